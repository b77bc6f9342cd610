"""Polling helpers: wait for an execution to reach a status, or for any condition."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

import pytest

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["wait_for_status", "wait_until"]

T = TypeVar("T")


def wait_until[T](condition: Callable[[], T], *, timeout: float = 30.0, interval: float = 0.05, message: str = "") -> T:
    """Call ``condition`` until it returns something truthy, and return that.

    Fails the test (``pytest.fail``) after ``timeout`` seconds, with ``message``.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(message or f"condition {condition!r} not met within {timeout:g}s")
        time.sleep(interval)


def wait_for_status(
    execution_id: str | UUID,
    statuses: str | Iterable[str],
    *,
    timeout: float = 30.0,
    interval: float = 0.05,
) -> TaskExecution:
    """Poll the database until the execution has one of ``statuses``; return the row.

    :param execution_id: the execution (``TaskResult.id``).
    :param statuses: one status name or several (``"completed"``, ``Status.FAILED``...).
    :param timeout: seconds before the test fails with the execution's last known state.
    :param interval: seconds between two reads.

    Each read is a fresh query outside any transaction block, so rows committed
    by other processes and threads are seen.
    """
    from rail_tasks.models import TaskExecution

    wanted = {str(statuses)} if isinstance(statuses, str) else {str(s) for s in statuses}
    deadline = time.monotonic() + timeout
    last: TaskExecution | None = None
    while True:
        last = TaskExecution.objects.filter(pk=execution_id).first()
        if last is not None and last.status in wanted:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    expected = " or ".join(sorted(wanted))
    if last is None:
        pytest.fail(f"Execution {execution_id} does not exist (waited {timeout:g}s for {expected}).")
    detail = f"attempts={last.attempts}, worker_id={last.worker_id!r}, progress={last.progress}"
    if last.error:
        detail += f", error={last.error!r}"
    hint = " Is a worker running for its backend?" if last.status == "pending" and not last.attempts else ""
    pytest.fail(
        f"Execution {execution_id} ({last.name}, backend {last.backend!r}) is still {last.status!r} "
        f"after {timeout:g}s; expected {expected} ({detail}).{hint}"
    )
