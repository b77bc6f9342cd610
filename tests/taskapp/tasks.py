"""Module-level tasks the test suites enqueue (seed 001's examples among them)."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from django.tasks import task as django_task

import rail_tasks
from rail_tasks import RailTaskContext

from .models import Ledger


def _ledger(event: str) -> None:
    handle = rail_tasks.current_task()
    assert handle is not None
    Ledger.objects.create(
        execution_id=handle.id, task=handle.name, event=event, attempt=handle.attempt, pid=os.getpid()
    )


@rail_tasks.task
def add(a: int, b: int) -> int:
    return a + b


@rail_tasks.task(name="generate_report", track_progress=True)
def generate_report(dataset_id: str) -> dict[str, Any]:
    task = rail_tasks.current_task()
    assert task is not None
    task.update_progress(25, "Fetching data...")
    task.update_progress(50, "Processing...")
    task.update_progress(75, "Generating file...")
    task.update_progress(100, "Complete")
    return {"ok": True, "dataset_id": dataset_id, "file_path": f"/reports/{dataset_id}.pdf"}


@rail_tasks.task(name="process_order", queue="orders", max_retries=5, retry_delay=60, timeout=300, track_progress=True)
def process_order(order_id: str) -> dict[str, Any]:
    return {"ok": True, "status": "processed", "order_id": order_id}


@rail_tasks.task(max_retries=3, retry_delay=0, retry_backoff=True)
def flaky_external_call(data: str, fail_times: int) -> str:
    """Fails ``fail_times`` attempts, then succeeds."""
    _ledger("start")
    handle = rail_tasks.current_task()
    assert handle is not None
    if handle.attempt <= fail_times:
        raise ConnectionError(f"external API down (attempt {handle.attempt})")
    return f"called with {data}"


@rail_tasks.task(track_progress=True)
def bulk_import(records: list[str]) -> dict[str, Any]:
    task = rail_tasks.current_task()
    assert task is not None
    total = len(records)
    for i, _record in enumerate(records):
        task.update_progress(int((i + 1) / total * 100), f"Processed {i + 1}/{total}")
    return {"ok": True, "imported": total}


@rail_tasks.task(max_retries=0)
def always_fails(message: str) -> None:
    raise ValueError(message)


@rail_tasks.task(takes_context=True)
def with_context(context: RailTaskContext, value: int) -> dict[str, Any]:
    context.task.update_progress(60, "via context")
    return {"attempt": context.attempt, "value": value, "id": context.task_result.id}


@rail_tasks.task
async def async_double(value: int) -> int:
    await asyncio.sleep(0)
    return value * 2


@rail_tasks.task(track_progress=True)
def wait_for_cancel(seconds: float) -> str:
    """Loops reporting progress until cancelled or ``seconds`` pass."""
    _ledger("start")
    task = rail_tasks.current_task()
    assert task is not None
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        task.update_progress(min(step, 99), f"step {step}")
        time.sleep(0.02)
    return "not cancelled"


@rail_tasks.task(timeout=0.2, max_retries=0)
def slow_with_progress(seconds: float) -> str:
    task = rail_tasks.current_task()
    assert task is not None
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task.update_progress(10)
        time.sleep(0.02)
    return "finished"


@rail_tasks.task
def returns_unserialisable() -> object:
    return object()


@rail_tasks.task(priority=10)
def ledger_task(label: str) -> str:
    _ledger("start")
    return label


@django_task
def plain_django_task(value: int) -> int:
    """Declared with Django's own decorator: runs on a rail backend with the settings' defaults."""
    return value + 1


# -- one attempt: how a task can end (tests/rail_tasks/test_attempt.py) --------------------


@rail_tasks.task(max_retries=0)
def exits_the_process(code: int) -> None:
    """``sys.exit`` inside a task: the attempt fails, the worker keeps running."""
    raise SystemExit(code)


@rail_tasks.task(max_retries=0)
def interrupted_by_keyboard() -> None:
    raise KeyboardInterrupt


@rail_tasks.task(max_retries=3, retry_delay=0)
def returns_a_datetime() -> Any:
    """A side effect, then a value JSON cannot carry: it must run once, not once per retry."""
    _ledger("start")
    from django.utils import timezone

    return {"when": timezone.now()}


@rail_tasks.task(max_retries=0)
def computes_until_stopped(seconds: float) -> str:
    """Busy in Python code, never reporting progress: only an interrupt stops it early."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.01)
    return "done"


@rail_tasks.task(max_retries=2, retry_delay=0, retry_backoff=False)
def sized_result(size: int) -> str:
    """Return ``size`` characters (a result-size limit test)."""
    _ledger("start")
    return "x" * size


@rail_tasks.task(max_retries=3, retry_delay=1, retry_backoff=True)
def fails_with_backoff() -> None:
    """Record each attempt's start, then fail (a backoff-gap test)."""
    _ledger("start")
    raise RuntimeError("failing on purpose")
