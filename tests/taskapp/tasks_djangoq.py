"""Tasks the rail-tasks-djangoq process tests enqueue (module level, inside an installed app)."""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

from django.db import connection

import rail_tasks
from rail_tasks.testing.recorder import record_event


def _start() -> rail_tasks.TaskHandle:
    handle = rail_tasks.current_task()
    assert handle is not None
    record_event("task:run", handle.id, "running", attempt=handle.attempt)
    return handle


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def slow_first_attempt(seconds: float) -> str:
    """Sleeps ``seconds`` on its first attempt only, so a test can kill the process running it."""
    if _start().attempt == 1:
        time.sleep(seconds)
    return "done"


@rail_tasks.task(max_retries=0)
def no_timeout_sleep(seconds: float) -> str:
    """No rail timeout: only the cluster's own ``timeout`` stops it (in short slices, as Python code runs)."""
    _start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "slept"


@rail_tasks.task(max_retries=0)
def stuck_in_database(seconds: float) -> str:
    """No rail timeout, and stuck in one database call (PostgreSQL) past the cluster's ``timeout``."""
    _start()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds])
    return "slept"


# -- benchmarks/djangoq.py: one function, run as a rail task and as plain Django-Q2 tasks ---------------

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


@cache
def bench_redis() -> Any:
    """The benchmark's Redis client (``RAIL_BENCH_REDIS``), one per process."""
    import redis

    return redis.Redis.from_url(os.environ["RAIL_BENCH_REDIS"])


def bench_body(key: str) -> None:
    """The benchmarked no-op: count the run in Redis, or stamp its start when ``key`` ends with ``:stamp``."""
    client = bench_redis()
    if key.endswith(":stamp"):
        client.rpush(key, repr(time.time()))
    else:
        client.incr(key)


@rail_tasks.task(max_retries=0)
def bench_noop(key: str) -> None:
    """``bench_body`` as a rail task."""
    bench_body(key)


def plain_noop(key: str) -> None:
    """``bench_body`` as a plain Django-Q2 task (``async_task("tests.taskapp.tasks_djangoq.plain_noop", key)``)."""
    bench_body(key)


def tracking_floor(key: str, execution_id: str) -> None:
    """``bench_body`` between the two raw ``UPDATE``s no tracked execution can do without (no ORM, no hooks)."""
    with connection.cursor() as cursor:
        cursor.execute(_FLOOR_CLAIM, [execution_id])
    bench_body(key)
    with connection.cursor() as cursor:
        cursor.execute(_FLOOR_FINISH, [execution_id])
