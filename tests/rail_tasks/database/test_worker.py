"""The worker as a user runs it: real ``rail_tasks_worker`` processes, results read from the database."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from typing import Any

import pytest
from django.db import transaction

from rail_tasks import Status, TaskExecution, cancel_execution
from tests.process import subprocess_env
from tests.taskapp import tasks, tasks_db
from tests.taskapp.models import Ledger

from .conftest import wait_status, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _on(task: Any) -> Any:
    return task.using(backend="database")


def _starts(execution_id: Any) -> int:
    return Ledger.objects.filter(execution_id=str(execution_id), event="start").count()


def test_burst_runs_every_kind_of_task_and_exits(start_worker: Any) -> None:
    results = [
        _on(tasks.add).enqueue(2, 3),
        _on(tasks.async_double).enqueue(21),
        _on(tasks.with_context).enqueue(7),
        _on(tasks_db.other_queue).enqueue("q"),
        _on(tasks.always_fails).enqueue("boom"),
    ]
    worker = start_worker("--burst", "--concurrency", "2")
    assert worker.wait(60) == 0, worker.text()
    rows = {str(row.pk): row for row in TaskExecution.objects.all()}
    assert [rows[r.id].status for r in results] == ["completed"] * 4 + ["failed"]
    assert "signal again" not in worker.text()  # nobody signalled: the queue ran empty
    assert rows[results[0].id].result == 5
    assert rows[results[1].id].result == 42
    assert rows[results[2].id].result["value"] == 7
    assert rows[results[4].id].exception_class == "builtins.ValueError"
    assert results[0].refresh() is None
    assert results[0].return_value == 5
    assert "concurrency 2" in worker.text()
    assert "queues: all" in worker.text()


def test_priority_then_fifo_with_one_process(start_worker: Any) -> None:
    labels = [("low-1", -5), ("mid-1", 0), ("high-1", 50), ("mid-2", 0), ("high-2", 50), ("low-2", -5)]
    for label, priority in labels:
        _on(tasks_db.record).using(priority=priority).enqueue(label)
    worker = start_worker("--burst", "--concurrency", "1")
    assert worker.wait(60) == 0, worker.text()
    order = [row.execution_id for row in Ledger.objects.order_by("id")]
    names = {str(r.pk): r.result for r in TaskExecution.objects.all()}
    assert [names[pk] for pk in order] == ["high-1", "high-2", "mid-1", "mid-2", "low-1", "low-2"]


def test_queue_filter_and_max_tasks(start_worker: Any) -> None:
    other = [_on(tasks_db.other_queue).enqueue(str(i)) for i in range(4)]
    default = _on(tasks_db.record).enqueue("default queue")
    worker = start_worker("--queue", "other", "--max-tasks", "3")
    assert worker.wait(60) == 0, worker.text()
    statuses = Counter(TaskExecution.objects.get(pk=r.id).status for r in other)
    assert statuses == {"completed": 3, "pending": 1}
    assert TaskExecution.objects.get(pk=default.id).status == Status.PENDING


def test_enqueue_rolled_back_is_never_seen(start_worker: Any) -> None:
    worker = start_worker("--concurrency", "1")

    def enqueue_then_fail() -> None:
        with transaction.atomic():
            _on(tasks_db.record).enqueue("never")
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        enqueue_then_fail()
    done = _on(tasks_db.record).enqueue("after")
    wait_status(done.id, "completed")
    assert TaskExecution.objects.count() == 1
    assert list(Ledger.objects.values_list("execution_id", flat=True)) == [done.id]
    assert worker.alive()


def test_unregistered_task_path_fails_without_importing(start_worker: Any) -> None:
    row = TaskExecution.objects.create(name="forged", task_path="os.system", backend="database", args=["true"])
    worker = start_worker("--burst")
    assert worker.wait(60) == 0, worker.text()
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "not a registered task" in row.error


def test_sigterm_lets_running_tasks_finish_and_claims_nothing_more(start_worker: Any) -> None:
    running = [_on(tasks_db.sleeper).enqueue(1.5) for _ in range(2)]
    worker = start_worker("--concurrency", "2")
    wait_until(lambda: Ledger.objects.filter(event="start").count() == 2)
    waiting = [_on(tasks_db.record).enqueue(str(i)) for i in range(3)]
    worker.signal(signal.SIGTERM)
    assert worker.wait(30) == 0, worker.text()
    assert [TaskExecution.objects.get(pk=r.id).status for r in running] == ["completed"] * 2
    assert "(signal again to stop now)" in worker.text()
    assert [TaskExecution.objects.get(pk=r.id).status for r in waiting] == ["pending"] * 3
    assert Ledger.objects.filter(event="start").count() == 2


def test_second_signal_hands_running_executions_back(start_worker: Any) -> None:
    result = _on(tasks_db.sleeper).enqueue(30)
    worker = start_worker()
    wait_until(lambda: _starts(result.id) == 1)
    worker.signal(signal.SIGTERM)
    worker.signal(signal.SIGINT)
    assert worker.wait(15) == 0, worker.text()
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.status, row.attempts, row.worker_id) == ("pending", 0, "")


def test_sigkill_runs_the_lost_tasks_again_after_the_lease(start_worker: Any) -> None:
    results = [_on(tasks_db.sleeper).enqueue(2) for _ in range(2)]
    first = start_worker("--concurrency", "2")
    wait_until(lambda: Ledger.objects.filter(event="start").count() == 2)
    first.signal(signal.SIGKILL)  # the supervisor only: its children must die with it
    first.wait(10)
    second = start_worker("--concurrency", "2", "-v", "2")
    try:
        rows = [wait_status(r.id, "completed", "failed", timeout=20) for r in results]
    finally:
        print(second.text())
    assert [(row.status, row.attempts, row.result) for row in rows] == [("completed", 2, 2)] * 2
    assert [_starts(r.id) for r in results] == [2, 2]
    assert Ledger.objects.filter(event="finish", attempt=1).count() == 0  # attempt 1 died with the worker
    assert not TaskExecution.objects.filter(status="running").exists()
    assert second.alive()


def test_task_that_kills_its_process_ends_failed_worker_lost(start_worker: Any) -> None:
    result = _on(tasks_db.kill_own_process).enqueue()
    after = _on(tasks_db.record).enqueue("next")
    start_worker("--concurrency", "1")
    row = wait_status(result.id, "failed", timeout=40)
    assert row.exception_class == "rail_tasks.exceptions.WorkerLost"
    assert "Worker lost" in row.error
    assert _starts(result.id) == row.max_attempts == 3
    wait_status(after.id, "completed")


def test_hard_timeout_ends_the_task_and_the_worker_carries_on(start_worker: Any) -> None:
    result = _on(tasks_db.hangs).enqueue(30)
    after = _on(tasks_db.record).enqueue("next")
    worker = start_worker("--concurrency", "1")
    row = wait_status(result.id, "failed", timeout=30)
    assert row.exception_class == "rail_tasks.exceptions.TaskTimeout"
    assert _starts(result.id) == 2  # max_retries=1: the timeout was retried once
    wait_status(after.id, "completed")
    assert worker.alive()


def test_cancel_running_ends_the_process(start_worker: Any) -> None:
    result = _on(tasks_db.sleeper).enqueue(60)
    worker = start_worker("--concurrency", "1")
    wait_until(lambda: _starts(result.id) == 1)
    cancel_execution(result.id)
    row = wait_status(result.id, "cancelled", timeout=10)
    assert row.exception_class == "rail_tasks.exceptions.TaskCancelled"
    after = _on(tasks_db.record).enqueue("next")
    wait_status(after.id, "completed")
    assert worker.alive()


def test_max_tasks_per_child_recycles_processes(start_worker: Any) -> None:
    for i in range(6):
        _on(tasks_db.record).enqueue(str(i))
    worker = start_worker("--burst", "--concurrency", "1", "--max-tasks-per-child", "2")
    assert worker.wait(60) == 0, worker.text()
    pids = list(Ledger.objects.order_by("id").values_list("pid", flat=True))
    assert len(pids) == 6
    # What max_tasks_per_child promises, whatever the machine's load: no child runs more than 2
    # tasks, so 6 tasks need at least 3 children. (Exactly 3 is not promised: under load a child
    # may be handed one task and the next child the rest; a busy CI machine once showed 4.)
    per_child = Counter(pids)
    assert max(per_child.values()) <= 2, per_child
    assert len(per_child) >= 3, per_child
    assert worker.pid not in per_child  # tasks run in children, never in the supervisor
    assert TaskExecution.objects.filter(status="completed").count() == 6


def test_stale_worker_late_write_is_rejected(start_worker: Any) -> None:
    result = _on(tasks_db.sleeper).enqueue(3)
    stale = start_worker("--concurrency", "1", "--lease-seconds", "1", "--heartbeat-seconds", "0.2")
    wait_until(lambda: _starts(result.id) == 1)
    stale.signal(signal.SIGSTOP, group=True)  # frozen past its lease: supervisor and child
    try:
        start_worker("--concurrency", "1")
        row = wait_status(result.id, "completed", timeout=40)
    finally:
        stale.signal(signal.SIGCONT, group=True)
    assert (row.attempts, row.result) == (2, 2)
    # The stale attempt wakes up, finishes its sleep and tries to record attempt 1: rejected.
    wait_until(lambda: Ledger.objects.filter(execution_id=result.id, event="finish").count() == 2, timeout=20)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.result) == ("completed", 2, 2)
    assert stale.alive()


def test_reload_restarts_the_worker_when_a_python_file_changes(start_worker: Any, tmp_path: Any) -> None:
    # A settings module of its own, so the test can change a file the worker imported.
    (tmp_path / "reload_settings.py").write_text("from tests.settings import *  # noqa: F403\n")
    env = subprocess_env(DJANGO_SETTINGS_MODULE="reload_settings")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    worker = start_worker("--reload", env=env)

    def starts() -> int:
        return worker.text().count("(database), ")

    wait_until(lambda: starts() == 1)
    first = _on(tasks.add).enqueue(1, 2)
    assert wait_status(first.id, Status.COMPLETED).result == 3
    time.sleep(1.1)  # the reloader compares modification times with a one-second resolution on some filesystems
    (tmp_path / "reload_settings.py").write_text("from tests.settings import *  # noqa: F403\n# changed\n")
    wait_until(lambda: starts() == 2, message=worker.text())
    assert "reload_settings.py changed, restarting" in worker.text()
    second = _on(tasks.add).enqueue(2, 3)
    assert wait_status(second.id, Status.COMPLETED).result == 5
    assert worker.alive()
