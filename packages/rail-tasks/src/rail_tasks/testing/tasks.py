"""The tasks the conformance suite enqueues.

They live at module level inside the ``rail_tasks`` app, so every worker can
import them by path (``load_task`` accepts them). Each one records
``task:run`` through :func:`rail_tasks.testing.recorder.record_event` when its
body starts, so tests count real starts of the function, in any process.
They are declared on the ``default`` backend; the suite picks the backend under
test with ``task.using(backend=alias)``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import rail_tasks
from rail_tasks.progress import TaskHandle
from rail_tasks.testing.recorder import record_event

__all__ = [
    "add",
    "always_fails",
    "async_add",
    "exits_with",
    "flaky",
    "kills_own_process",
    "record_label",
    "report_progress",
    "sleep_past_timeout",
    "sleeps_once",
    "sleeps_then_returns",
    "slow_with_progress",
    "wait_for_cancel",
]


def _handle() -> TaskHandle:
    handle = rail_tasks.current_task()
    if handle.detached:  # pragma: no cover - only when called outside a worker
        raise RuntimeError("conformance tasks must run as tasks")
    return handle


def _started(**extra: Any) -> TaskHandle:
    handle = _handle()
    record_event("task:run", handle.id, "running", attempt=handle.attempt, **extra)
    return handle


@rail_tasks.task(max_retries=0)
def add(a: int, b: int) -> dict[str, Any]:
    """Return the sum with the arguments, so a result proves they travelled intact."""
    _started()
    return {"sum": a + b, "args": [a, b]}


@rail_tasks.task(max_retries=0)
async def async_add(a: int, b: int) -> int:
    """An ``async def`` task."""
    _started()
    await asyncio.sleep(0)
    return a + b


@rail_tasks.task(max_retries=0, track_progress=True)
def report_progress(steps: int) -> int:
    """Report ``steps`` progress updates, ending at 100 with the message ``done``."""
    handle = _started()
    for step in range(1, steps):
        handle.update_progress(step * 100 // steps, f"step {step}/{steps}")
    handle.update_progress(100, "done")
    return steps


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def flaky(fail_times: int) -> str:
    """Raise ``ConnectionError`` on the first ``fail_times`` attempts, then succeed."""
    handle = _started()
    if handle.attempt <= fail_times:
        raise ConnectionError(f"flaky failure on attempt {handle.attempt}")
    return f"succeeded on attempt {handle.attempt}"


@rail_tasks.task(max_retries=1, retry_delay=0, retry_backoff=False)
def always_fails(message: str) -> None:
    """Raise ``ValueError(message)`` on every attempt (two attempts in all)."""
    _started()
    raise ValueError(message)


@rail_tasks.task(max_retries=0, timeout=2)
def sleep_past_timeout(seconds: float) -> str:
    """Sleep without ever calling ``update_progress``: only the engine can stop it at its 2s timeout.

    Sleeps in short slices, as Python code that computes would run: threaded
    engines raise their interrupt at the next Python instruction, which a
    single long ``time.sleep`` would postpone until it returns.
    """
    _started()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return "slept"


@rail_tasks.task(max_retries=0, timeout=0.5)
def slow_with_progress(seconds: float) -> str:
    """Report progress in a loop past its 0.5s timeout: stopped at an ``update_progress`` call."""
    handle = _started()
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        handle.update_progress(min(step, 99), f"tick {step}")
        time.sleep(0.05)
    return "finished"


@rail_tasks.task(max_retries=0, track_progress=True)
def wait_for_cancel(seconds: float) -> str:
    """Report progress until cancelled (or ``seconds`` pass, then return ``not cancelled``)."""
    handle = _started()
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        handle.update_progress(min(step, 99), f"waiting {step}")
        time.sleep(0.05)
    return "not cancelled"


@rail_tasks.task(max_retries=0)
def record_label(label: str) -> str:
    """Record ``task:run`` with ``label`` (the priority test reads the order of labels)."""
    _started(label=label)
    return label


# -- the recovery suite's tasks -----------------------------------------------------------


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def sleeps_then_returns(seconds: float) -> int:
    """Sleep ``seconds`` in short slices (no progress), then return the attempt that finished."""
    handle = _started()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return handle.attempt


@rail_tasks.task(max_retries=0)
def sleeps_once(seconds: float) -> int:
    """Like :func:`sleeps_then_returns`, with no retries: a lost attempt ends the execution."""
    handle = _started()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
    return handle.attempt


@rail_tasks.task(max_retries=1, retry_delay=0, retry_backoff=False)
def kills_own_process() -> None:
    """End the process running it with SIGKILL, on every attempt (a segfault, an OOM kill)."""
    import os
    import signal

    _started()
    os.kill(os.getpid(), signal.SIGKILL)


@rail_tasks.task(max_retries=0)
def exits_with(code: int) -> None:
    """``sys.exit(code)`` inside the task: the attempt fails, the worker carries on."""
    _started()
    raise SystemExit(code)
