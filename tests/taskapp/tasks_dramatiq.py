"""Tasks the rail-tasks-dramatiq process tests enqueue (module level, inside an installed app)."""

from __future__ import annotations

import os
import time

import rail_tasks
from tests.taskapp.models import Ledger


def _start() -> rail_tasks.TaskHandle:
    handle = rail_tasks.current_task()
    assert handle is not None
    Ledger.objects.create(
        execution_id=handle.id, task=handle.name, event="start", attempt=handle.attempt, pid=os.getpid()
    )
    return handle


@rail_tasks.task(max_retries=0)
def short_sleep(seconds: float) -> int:
    """Records its start and sleeps briefly (a task that is in flight for a while)."""
    _start()
    time.sleep(seconds)
    return os.getpid()


@rail_tasks.task(max_retries=0, timeout=1)
def spins_past_timeout() -> str:
    """Busy Python code with no progress calls: only the kit's hard timeout stops it."""
    _start()
    while True:
        sum(range(1000))


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


@rail_tasks.task(max_retries=0)
def bench_noop(key: str) -> None:
    """benchmarks/dramatiq.py: the no-op as a rail task (``bench_body`` of tests.rail_tasks_dramatiq.bench_actors)."""
    from tests.rail_tasks_dramatiq.bench_actors import bench_body

    bench_body(key)
