"""At-least-once on a real broker and a real prefork worker: lost children, lost workers, a lost broker."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from django.tasks import task_backends

from rail_tasks import Status, TaskExecution, cancel_execution
from rail_tasks.testing import wait_for_status, wait_until
from tests.rail_tasks_celery.conftest import CeleryWorker
from tests.taskapp import tasks_celery
from tests.taskapp.models import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

StartWorker = Callable[..., CeleryWorker]


def _started(execution_id: str, count: int = 1) -> list[Ledger]:
    return wait_until(
        lambda: (
            (rows := list(Ledger.objects.filter(execution_id=execution_id, event="start")))
            and len(rows) >= count
            and rows
        ),
        timeout=30,
        message=f"execution {execution_id} did not start {count} time(s)",
    )


def test_sigkill_pool_child_mid_task_runs_again(celery_worker_factory: StartWorker) -> None:
    """The child running a task is SIGKILLed: the attempt is recorded lost and the task completes on a retry."""
    worker = celery_worker_factory()
    result = tasks_celery.slow_first_attempt.using(backend="celery").enqueue(30)
    first = _started(result.id)[0]
    assert first.pid in worker.pool_children()
    os.kill(first.pid, signal.SIGKILL)
    row = wait_for_status(result.id, [Status.COMPLETED], timeout=30)
    assert row.result == "done on attempt 2"
    assert row.attempts == 2
    starts = Ledger.objects.filter(execution_id=result.id, event="start").order_by("attempt")
    assert [s.attempt for s in starts] == [1, 2]
    assert starts[1].pid != first.pid


def test_sigkill_whole_worker_completes_after_restart(celery_worker_factory: StartWorker) -> None:
    """The whole worker is SIGKILLed mid-task: after a restart the execution completes."""
    worker = celery_worker_factory(name="killed")
    result = tasks_celery.slow_first_attempt.using(backend="celery").enqueue(60)
    _started(result.id)
    worker.kill()
    assert TaskExecution.objects.get(pk=result.id).status == Status.RUNNING
    celery_worker_factory(name="restarted")
    row = wait_for_status(result.id, [Status.COMPLETED], timeout=60)
    assert row.result == "done on attempt 2"
    assert row.attempts == 2
    assert Ledger.objects.filter(execution_id=result.id, event="start").count() == 2


def _restart_redis() -> None:
    subprocess.run(["redis-cli", "-p", "6379", "shutdown", "nosave"], check=False, capture_output=True, timeout=10)
    subprocess.run(
        [
            "redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", "6379", "--save", "",
            "--appendonly", "no", "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log",
        ],
        check=True,
        capture_output=True,
        timeout=10,
    )  # fmt: skip
    wait_until(
        lambda: (
            subprocess.run(
                ["redis-cli", "-p", "6379", "ping"], capture_output=True, text=True, check=False
            ).stdout.strip()
            == "PONG"
        ),
        timeout=10,
        message="redis did not come back",
    )


def test_redis_restart_with_200_in_flight(celery_worker_factory: StartWorker) -> None:
    """Redis restarts (no persistence) with 200 tasks queued or running: every one completes, none is stuck.

    Celery's worker may stop with "Unrecoverable error" when the connection drops
    in the middle of an acknowledgement; like a process manager in production,
    the test starts it again when it exits.
    """
    workers = [celery_worker_factory()]
    task = tasks_celery.short_sleep.using(backend="celery")
    ids = [task.enqueue(0.05).id for _ in range(200)]
    wait_until(
        lambda: TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() >= 20,
        timeout=30,
        message="the worker never got going",
    )
    _restart_redis()
    done = TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count()
    assert done < 200, "everything finished before the restart: the test proves nothing"

    def all_completed() -> bool:
        if workers[-1].process is not None and workers[-1].process.poll() is not None:
            workers.append(celery_worker_factory(name=f"supervised{len(workers)}"))
        return TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 200

    wait_until(all_completed, timeout=120, message="not every execution completed after the Redis restart")
    assert not TaskExecution.objects.filter(pk__in=ids).exclude(status=Status.COMPLETED).exists()


def test_hard_time_limit_is_recorded_as_timeout(celery_worker_factory: StartWorker) -> None:
    """A task that swallows the soft limit is killed at the hard one, and the attempt is recorded as a timeout."""
    celery_worker_factory()
    result = tasks_celery.ignores_timeout.using(backend="celery").enqueue(30)
    row = wait_for_status(result.id, [Status.FAILED], timeout=30)
    assert row.exception_class == "rail_tasks.exceptions.TaskTimeout"
    assert "hard time limit" in row.error
    assert row.completed_at is not None
    assert row.started_at is not None
    assert (row.completed_at - row.started_at).total_seconds() < 10


def test_revoke_stops_a_sleeping_task_as_cancelled(celery_worker_factory: StartWorker) -> None:
    """Cancelling a task that never reports progress revokes it: it ends ``cancelled`` and its child lives on."""
    worker = celery_worker_factory(concurrency=1)
    result = tasks_celery.sleeps_quietly.using(backend="celery").enqueue(60)
    start = _started(result.id)[0]
    wait_for_status(result.id, [Status.RUNNING], timeout=10)
    began = time.monotonic()
    cancel_execution(result.id)
    row = wait_for_status(result.id, [Status.CANCELLED], timeout=15)
    assert time.monotonic() - began < 5
    assert row.exception_class == "rail_tasks.exceptions.TaskCancelled"
    assert row.result is None
    after = tasks_celery.whoami.using(backend="celery").enqueue()
    assert wait_for_status(after.id, [Status.COMPLETED], timeout=15).result == start.pid
    assert worker.pool_children() == [start.pid]


def test_delay_longer_than_visibility_timeout_hops(celery_worker_factory: StartWorker) -> None:
    """A delay past the Redis visibility timeout (20s in the tests) is sent in hops and runs once, on time."""
    from datetime import timedelta

    from django.utils import timezone

    backend = task_backends["celery"]
    limit = backend.broker.max_countdown  # type: ignore[attr-defined]
    assert limit is not None
    assert limit < 20
    celery_worker_factory()
    run_after = timezone.now() + timedelta(seconds=limit + 4)
    result = tasks_celery.whoami.using(backend="celery", run_after=run_after).enqueue()
    row = wait_for_status(result.id, [Status.COMPLETED], timeout=limit + 30)
    assert row.started_at is not None
    assert row.started_at >= run_after
    assert row.attempts == 1
    assert Ledger.objects.filter(execution_id=result.id, event="start").count() == 1


def test_cancel_during_progress_writes_never_hangs(celery_worker_factory: StartWorker) -> None:
    """Cancels landing while the task writes progress (database calls) end ``cancelled`` every time."""
    from tests.taskapp.tasks import wait_for_cancel

    celery_worker_factory(concurrency=1)
    task = wait_for_cancel.using(backend="celery")
    for _ in range(6):
        result = task.enqueue(60)
        _started(result.id)
        cancel_execution(result.id)
        row = wait_for_status(result.id, [Status.CANCELLED], timeout=15)
        assert row.exception_class == "rail_tasks.exceptions.TaskCancelled"


def _backend_pids(count: int) -> list[int]:
    pids = []
    for _ in range(count):
        result = tasks_celery.database_backend_pid.using(backend="celery").enqueue()
        pids.append(wait_for_status(result.id, [Status.COMPLETED], timeout=30).result)
    return pids


def test_worker_keeps_its_database_connection_with_the_recommended_settings(
    celery_worker_factory: StartWorker,
) -> None:
    """CELERY_DB_REUSE_MAX + CONN_MAX_AGE: one connection serves execution after execution (docs/celery.md)."""
    celery_worker_factory(concurrency=1, env={"RAIL_TASKS_TEST_CONN_MAX_AGE": "600"})
    pids = _backend_pids(4)
    assert len(set(pids)) == 1, pids


def test_worker_follows_conn_max_age_zero(celery_worker_factory: StartWorker) -> None:
    """Django's default CONN_MAX_AGE=0: each execution closes its connection at the end, like a request."""
    celery_worker_factory(concurrency=1)
    pids = _backend_pids(3)
    assert len(set(pids)) == 3, pids
