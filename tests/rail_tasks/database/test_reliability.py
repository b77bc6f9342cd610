"""Reliability under many workers and a hostile database: real processes, outcomes read from the database."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from rail_tasks import Status, TaskExecution
from tests.taskapp import tasks_db
from tests.taskapp.models import Ledger

from .conftest import postgres_only, terminate_other_backends, wait_status, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _queue_rows(count: int) -> list[Any]:
    rows = [
        TaskExecution(name="record", task_path="tests.taskapp.tasks_db.record", backend="database", args=[str(i)])
        for i in range(count)
    ]
    TaskExecution.objects.bulk_create(rows, batch_size=500)
    return [row.pk for row in rows]


def test_three_workers_start_every_task_exactly_once(start_worker: Any) -> None:
    ids = _queue_rows(2000)
    # Leases long enough that a supervisor waiting for SQLite's write lock never loses one.
    workers = [
        start_worker("--concurrency", "1", "--lease-seconds", "30", "--heartbeat-seconds", "2") for _ in range(3)
    ]
    wait_until(lambda: not TaskExecution.objects.filter(status__in=["pending", "running"]).exists(), timeout=300)
    assert TaskExecution.objects.filter(status=Status.COMPLETED).count() == 2000
    starts = Counter(Ledger.objects.filter(event="start").values_list("execution_id", flat=True))
    assert len(starts) == 2000
    assert set(starts.values()) == {1}
    assert set(starts) == {str(pk) for pk in ids}
    by_worker = TaskExecution.objects.values("worker_id").annotate(n=Count("id"))
    assert len(by_worker) == 3, list(by_worker)  # every worker took a share
    assert all(worker.alive() for worker in workers)


def test_signals_during_claims_lose_nothing_and_run_nothing_twice(start_worker: Any) -> None:
    """SIGTERM lands while workers claim batches (the random offsets hit claim, dispatch and run alike):
    every claimed row is either run or handed back, and every task starts exactly once."""
    ids = _queue_rows(600)
    rng = random.Random(15)
    cycles = 0
    while TaskExecution.objects.filter(status=Status.PENDING).count() > 100 and cycles < 12:
        cycles += 1
        worker = start_worker("--concurrency", "2", "--lease-seconds", "30", "--heartbeat-seconds", "2")
        done_before = Ledger.objects.count()
        wait_until(lambda before=done_before: Ledger.objects.count() > before, timeout=30)  # claiming, running
        time.sleep(rng.uniform(0, 0.05))
        worker.signal(signal.SIGTERM)
        assert worker.wait(40) == 0, worker.text()
        assert not TaskExecution.objects.filter(status=Status.RUNNING).exists(), "a claim survived its worker"
    assert cycles >= 2
    last = start_worker("--burst", "--concurrency", "2")
    assert last.wait(120) == 0, last.text()
    assert TaskExecution.objects.filter(status=Status.COMPLETED).count() == 600
    starts = Counter(Ledger.objects.filter(event="start").values_list("execution_id", flat=True))
    assert set(starts) == {str(pk) for pk in ids}  # none lost
    assert set(starts.values()) == {1}  # none run twice
    assert set(TaskExecution.objects.values_list("attempts", flat=True)) == {1}  # a handed-back claim cost nothing


def _other_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@postgres_only
def test_connections_stay_bounded_over_8000_tasks(start_worker: Any) -> None:
    """A worker's database connections do not grow with the tasks it runs (sampled, not timed)."""
    rows = [
        TaskExecution(name="noop", task_path="tests.taskapp.tasks_db.noop", backend="database") for _ in range(8000)
    ]
    TaskExecution.objects.bulk_create(rows, batch_size=1000)
    worker = start_worker("--burst", "--concurrency", "2", "--lease-seconds", "30", "--heartbeat-seconds", "2")
    samples: list[tuple[int, int]] = []
    while worker.alive():
        samples.append((TaskExecution.objects.filter(status=Status.COMPLETED).count(), _other_connections()))
        time.sleep(0.5)
    assert worker.wait(10) == 0, worker.text()
    assert TaskExecution.objects.filter(status=Status.COMPLETED).count() == 8000
    busy = [connections for done, connections in samples if 100 <= done < 7900]
    print("connections while running:", sorted(Counter(busy).items()))
    assert busy, samples
    # Two children and the supervisor (its queries and its LISTEN connection): the same few throughout.
    assert max(busy) <= 6, samples  # bounded, at 100 tasks as at 7,900
    wait_until(lambda: _other_connections() == 0, timeout=10)  # all closed at exit


@postgres_only
def test_idle_worker_is_woken_by_notify(start_worker: Any) -> None:
    worker = start_worker("--poll-interval", "30", fast=False)
    time.sleep(0.5)  # idle, LISTENing
    started = time.monotonic()
    result = tasks_db.record.using(backend="database").enqueue("now")
    wait_status(result.id, "completed", timeout=10)
    assert time.monotonic() - started < 5  # far less than the 30 s poll
    assert "LISTEN/NOTIFY" in worker.text()


@postgres_only
def test_worker_survives_terminated_connections_while_idle(start_worker: Any) -> None:
    worker = start_worker("--poll-interval", "0.2")
    first = tasks_db.record.using(backend="database").enqueue("before")
    wait_status(first.id, "completed")
    assert terminate_other_backends() >= 2  # supervisor, listener (and a child's, if open)
    time.sleep(0.5)
    second = tasks_db.record.using(backend="database").enqueue("after")
    wait_status(second.id, "completed", timeout=30)
    assert worker.alive()


@postgres_only
def test_worker_survives_terminated_connections_mid_task(start_worker: Any) -> None:
    worker = start_worker("--concurrency", "1")
    result = tasks_db.query_after.using(backend="database").enqueue(1.0)
    wait_until(lambda: Ledger.objects.filter(execution_id=result.id).exists())
    assert terminate_other_backends() >= 1
    row = wait_status(result.id, "completed", "failed", timeout=40)
    assert row.status == Status.COMPLETED, (row.error, worker.text())
    assert row.attempts == 2  # the first attempt lost its connection and was retried
    after = tasks_db.record.using(backend="database").enqueue("after")
    wait_status(after.id, "completed")
    assert worker.alive()


def _restart_postgresql() -> None:
    """Restart the local PostgreSQL cluster (fast shutdown: every connection is cut) and wait until it accepts."""
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    connection.close()  # this process's connection died with the server


restarts_postgresql = pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None or not os.path.isdir("/etc/postgresql") or os.geteuid() != 0,
    reason="restarts the local PostgreSQL cluster (needs root and pg_ctlcluster)",
)


@postgres_only
@restarts_postgresql
def test_worker_survives_a_postgresql_restart_with_tasks_in_flight(start_worker: Any) -> None:
    worker = start_worker("--concurrency", "2")
    results = [tasks_db.sleeper.using(backend="database").enqueue(0.2) for _ in range(40)]
    wait_until(lambda: TaskExecution.objects.filter(status=Status.COMPLETED).count() >= 4)
    _restart_postgresql()
    ids = [result.id for result in results]
    wait_until(
        lambda: TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 40,
        timeout=120,
        message=f"not every task completed after the restart: {worker.text()[-3000:]}",
    )
    assert not TaskExecution.objects.filter(status__in=["pending", "running", "retrying"]).exists()
    started = set(Ledger.objects.filter(event="start").values_list("execution_id", flat=True))
    assert started == {str(pk) for pk in ids}
    assert worker.alive()
