"""Metrics with the real SDK: values after a known sequence of tasks; nothing without ``metrics_enabled``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from rail_tasks import Status, TaskExecution, cancel_execution, hookimpl, run_execution
from rail_tasks.testing import wait_for_status
from rail_tasks_otel import metrics as otel_metrics
from tests.rail_tasks_otel.conftest import Metrics
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

ADD = {"rail_tasks.task.name": "add", "messaging.destination.name": "default", "rail_tasks.backend": "default"}


@pytest.fixture
def metrics_on() -> Iterator[None]:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "metrics_enabled": True}):
        yield


@pytest.mark.usefixtures("metrics_on")
def test_counters_and_histograms_after_a_known_sequence(recorded_metrics: Metrics) -> None:
    tasks.add.enqueue(1, 2)
    tasks.add.enqueue(3, 4)
    flaky = tasks.flaky_external_call.using(backend="thread").enqueue("d", 1)  # fails once, then completes
    wait_for_status(flaky.id, [Status.COMPLETED], timeout=10)
    tasks.always_fails.enqueue("boom")
    waiting = tasks.add.using(backend="database").enqueue(5, 6)  # no worker: cancelled while waiting
    cancel_execution(waiting.id)
    assert TaskExecution.objects.get(pk=waiting.id).status == Status.CANCELLED

    m = recorded_metrics.collect()
    assert m.total("rail_tasks.executions.enqueued") == 5
    assert m.total("rail_tasks.executions.enqueued", ADD) == 2
    assert m.total("rail_tasks.executions.enqueued", {**ADD, "rail_tasks.backend": "database"}) == 1
    assert m.total("rail_tasks.executions.started") == 5  # 2 adds, 2 attempts of flaky, always_fails
    assert m.total("rail_tasks.executions.completed") == 3
    assert m.total("rail_tasks.executions.completed", ADD) == 2
    assert m.total("rail_tasks.executions.retried") == 1
    assert m.total("rail_tasks.executions.retried", {"rail_tasks.task.name": "flaky_external_call"}) == 1
    assert m.total("rail_tasks.executions.failed") == 1
    assert m.total("rail_tasks.executions.failed", {"rail_tasks.task.name": "always_fails"}) == 1
    assert m.total("rail_tasks.executions.cancelled") == 1

    assert m.count("rail_tasks.execution.queue_wait") == 5
    assert m.count("rail_tasks.execution.duration") == 5
    assert m.count("rail_tasks.execution.duration", {**ADD, "rail_tasks.outcome": "completed"}) == 2
    assert m.count("rail_tasks.execution.duration", {"rail_tasks.outcome": "retrying"}) == 1
    assert m.count("rail_tasks.execution.duration", {"rail_tasks.outcome": "failed"}) == 1
    assert 0 <= m.histogram_sum("rail_tasks.execution.duration") < 5

    assert m.total("rail_tasks.executions.running") == 0, "every +1 has its -1"
    running = m.points["rail_tasks.executions.running"]
    assert {attrs["rail_tasks.worker"] for attrs, _ in running} == {otel_metrics.worker_id()}


@pytest.mark.usefixtures("metrics_on")
def test_running_counts_an_attempt_while_it_runs(recorded_metrics: Metrics, plugin: Any) -> None:
    seen: list[float] = []

    class Probe:
        @hookimpl
        def rail_tasks_progress(self) -> None:
            seen.append(recorded_metrics.collect().total("rail_tasks.executions.running"))

    plugin(Probe(), "probe")
    tasks.generate_report.enqueue("r")
    assert seen[0] == 1, "one running while the task reports progress"
    assert recorded_metrics.collect().total("rail_tasks.executions.running") == 0


def test_queue_wait_starts_at_the_enqueue(recorded_metrics: Metrics) -> None:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "metrics_enabled": True}):
        result = tasks.add.using(backend="database").enqueue(1, 2)
        row = TaskExecution.objects.get(pk=result.id)
        enqueued = row.metadata["otel"]["enqueued_at"]
        TaskExecution.objects.filter(pk=row.pk).update(
            metadata={**row.metadata, "otel": {**row.metadata["otel"], "enqueued_at": enqueued - 30}}
        )
        run_execution(result.id)
    m = recorded_metrics.collect()
    assert 30 <= m.histogram_sum("rail_tasks.execution.queue_wait") < 40


def test_nothing_is_recorded_without_metrics_enabled(recorded_metrics: Metrics) -> None:
    tasks.add.enqueue(1, 2)
    tasks.always_fails.enqueue("boom")
    assert recorded_metrics.collect().points == {}
    assert "enqueued_at" not in TaskExecution.objects.get(name="add").metadata.get("otel", {})
