"""Tasks and callables for the core's hook, settings, logging and REST tests."""

from __future__ import annotations

import time
from typing import Any

import rail_tasks

#: Calls of :func:`record_failure`, in order (the sync and thread backends run in this process).
FAILURES: list[dict[str, Any]] = []

#: Not callable: a bad ``failure_callback`` target for the system check.
NOT_CALLABLE = 42


def record_failure(taskId: str, task_name: str, error: str, traceback: str) -> None:
    """A ``failure_callback`` with seed 001's signature; also notes the row's state when it is called."""
    from rail_tasks.models import TaskExecution

    row = TaskExecution.objects.filter(pk=taskId).values("status", "attempts").first()
    FAILURES.append({"taskId": taskId, "task_name": task_name, "error": error, "traceback": traceback, "row": row})


def raising_callback(taskId: str, task_name: str, error: str, traceback: str) -> None:
    """A ``failure_callback`` that itself fails (must not change the task's outcome)."""
    raise RuntimeError("alerting is down")


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def fails_twice_then_gives_up(message: str) -> None:
    """Fails every attempt: three attempts in all."""
    raise KeyError(message)


@rail_tasks.task(max_retries=0)
def sleeps(seconds: float) -> str:
    """Sleeps, for the slow-task warning."""
    time.sleep(seconds)
    return "slept"


@rail_tasks.task(max_retries=0, track_progress=True)
def progress_then_fail(message: str) -> None:
    """Reports progress, then raises."""
    handle = rail_tasks.current_task()
    assert handle is not None
    handle.update_progress(40, "almost")
    raise RuntimeError(message)
