"""Tasks for the database backend's worker tests (run in real worker processes)."""

from __future__ import annotations

import os
import signal
import time

import rail_tasks

from .tasks import _ledger


@rail_tasks.task(max_retries=0)
def noop() -> None:
    """Does nothing: measures the queue, not the task."""


@rail_tasks.task(max_retries=0)
def record(label: str) -> str:
    """Writes a ledger row per start and returns ``label``."""
    _ledger("start")
    return label


@rail_tasks.task(max_retries=2, retry_delay=0)
def sleeper(seconds: float) -> int:
    """Writes a ledger row, sleeps, returns the attempt that finished."""
    _ledger("start")
    time.sleep(seconds)
    handle = rail_tasks.current_task()
    assert handle is not None
    _ledger("finish")
    return handle.attempt


@rail_tasks.task(max_retries=2, retry_delay=0)
def kill_own_process() -> None:
    """Ends the process running it, every time (a segfault, an OOM kill)."""
    _ledger("start")
    os.kill(os.getpid(), signal.SIGKILL)


# 2 s: long enough for a child on a loaded machine to record its start before the kill.
@rail_tasks.task(timeout=2, max_retries=1, retry_delay=0)
def hangs(seconds: float) -> str:
    """Sleeps past its timeout without ever reporting progress (only a hard timeout stops it)."""
    _ledger("start")
    time.sleep(seconds)
    return "woke up"


@rail_tasks.task(max_retries=1, retry_delay=0)
def query_after(seconds: float) -> int:
    """Sleeps, then uses the database (its connection may have been terminated meanwhile)."""
    _ledger("start")
    time.sleep(seconds)
    from .models import Ledger

    return Ledger.objects.count()


@rail_tasks.task(queue="other", max_retries=0)
def other_queue(label: str) -> str:
    """A task on the ``other`` queue."""
    _ledger("start")
    return label
