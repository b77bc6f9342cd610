"""Tasks the rail-tasks-djangoq process tests enqueue (module level, inside an installed app)."""

from __future__ import annotations

import time

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
