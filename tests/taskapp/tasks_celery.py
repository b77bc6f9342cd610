"""Tasks the rail-tasks-celery process tests enqueue (module level, inside an installed app)."""

from __future__ import annotations

import contextlib
import os
import time

from celery import shared_task

import rail_tasks

from .models import Ledger


def _start() -> rail_tasks.TaskHandle:
    handle = rail_tasks.current_task()
    assert handle is not None
    Ledger.objects.create(
        execution_id=handle.id, task=handle.name, event="start", attempt=handle.attempt, pid=os.getpid()
    )
    return handle


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def slow_first_attempt(seconds: float) -> str:
    """Sleeps ``seconds`` on its first attempt only, so a test can kill the process running it."""
    handle = _start()
    if handle.attempt == 1:
        time.sleep(seconds)
    return f"done on attempt {handle.attempt}"


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def short_sleep(seconds: float) -> int:
    """Sleeps briefly (a task that is in flight for a while)."""
    time.sleep(seconds)
    return os.getpid()


@rail_tasks.task(max_retries=0, timeout=1)
def ignores_timeout(seconds: float) -> str:
    """Swallows the soft time limit and keeps sleeping: only the hard limit stops it."""
    _start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(BaseException):
            time.sleep(max(deadline - time.monotonic(), 0))
    return "never stopped"


@rail_tasks.task(max_retries=0)
def sleeps_quietly(seconds: float) -> str:
    """Sleeps without progress calls: only the engine can cancel it."""
    _start()
    time.sleep(seconds)
    return "not cancelled"


@rail_tasks.task(max_retries=0)
def whoami() -> int:
    """The pid of the process that ran it."""
    _start()
    return os.getpid()


@rail_tasks.task(max_retries=0)
def database_backend_pid() -> int:
    """The PostgreSQL server process of the connection this execution ran on."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    return int(row[0])


# -- benchmarks/celery.py: one function, run as a rail task and as plain Celery tasks ---------------


def bench_body(key: str) -> None:
    """The benchmarked no-op: count the run (and stamp its start when ``key`` ends with ``:stamp``).

    ``RAIL_BENCH_SLEEP_MS`` (``benchmarks/celery.py --sleep-ms``) makes it a task that works that long.
    """
    from tests.rail_tasks_celery.bench_redis import client

    if key.endswith(":stamp"):
        client().rpush(key, repr(time.time()))
        return
    sleep_ms = float(os.environ.get("RAIL_BENCH_SLEEP_MS") or 0)
    if sleep_ms:
        time.sleep(sleep_ms / 1000)
    client().incr(key)


@rail_tasks.task(max_retries=0)
def bench_noop(key: str) -> None:
    """``bench_body`` as a rail task."""
    bench_body(key)


@shared_task(name="rail_bench.plain_noop")
def plain_noop(key: str) -> None:
    """``bench_body`` as a plain Celery task."""
    bench_body(key)


@shared_task(name="rail_bench.plain_noop_late", acks_late=True, reject_on_worker_lost=True)
def plain_noop_late(key: str) -> None:
    """``bench_body`` as a plain Celery task with the delivery options rail's task uses (at least once)."""
    bench_body(key)


#: The least a tracked execution must write, as raw SQL on rail's own table (PostgreSQL).
_FLOOR_CLAIM = (
    "UPDATE rail_tasks_taskexecution SET status = 'running', attempts = attempts + 1, "
    "started_at = COALESCE(started_at, now()), heartbeat_at = now() "
    "WHERE id = %s AND status IN ('pending', 'retrying')"
)
_FLOOR_FINISH = (
    "UPDATE rail_tasks_taskexecution SET status = 'completed', progress = 100, completed_at = now() "
    "WHERE id = %s AND status = 'running' AND attempts = 1"
)


@shared_task(name="rail_bench.tracking_floor", acks_late=True, reject_on_worker_lost=True)
def tracking_floor(key: str, execution_id: str) -> None:
    """``bench_body`` between two raw UPDATEs of a ``TaskExecution`` row: the floor of any per-execution tracking.

    No ORM, no hooks, no signals: only the claim and the outcome a tracked
    execution cannot do without (benchmarks/celery.py compares rail with it).
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_FLOOR_CLAIM, [execution_id])
    bench_body(key)
    with connection.cursor() as cursor:
        cursor.execute(_FLOOR_FINISH, [execution_id])
