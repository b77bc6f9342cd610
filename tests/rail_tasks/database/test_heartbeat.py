"""The heartbeat never reports an attempt that already finished (it races every short task)."""

from __future__ import annotations

from typing import Any

import pytest

from rail_tasks import Status, TaskExecution

from .conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_fast_heartbeats_over_short_tasks_report_no_lost_lease(start_worker: Any) -> None:
    """Measured before the fix: 300 short tasks with 0.1 s heartbeats logged "lease lost" 21 times."""
    rows = [TaskExecution(name="noop", task_path="tests.taskapp.tasks_db.noop", backend="database") for _ in range(300)]
    TaskExecution.objects.bulk_create(rows)
    worker = start_worker("--concurrency", "2", "--lease-seconds", "5", "--heartbeat-seconds", "0.1", "-v", "2")
    wait_until(lambda: TaskExecution.objects.filter(status=Status.COMPLETED).count() == 300, timeout=120)
    assert set(TaskExecution.objects.values_list("attempts", flat=True)) == {1}
    worker.stop()
    assert "lease lost" not in worker.text()
    assert "stopping this attempt" not in worker.text()
