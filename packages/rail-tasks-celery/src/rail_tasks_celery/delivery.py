"""Per-process bookkeeping of the executions this worker process is running.

The Celery task registers each delivery here while it runs; the
``rail_tasks_execution_context`` hook marks the stretch where the user's
function runs. The heartbeat thread renews leases from this registry and the
signal handlers (soft time limit, cancel) read it to decide whether an
interrupt may be raised in user code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rail_tasks import TaskExecution

__all__ = ["Delivery", "active_deliveries", "delivery", "main_thread_delivery", "user_code"]


@dataclass
class Delivery:
    """One message being handled: which execution, as which worker id, with what lease."""

    execution_id: str
    worker_id: str
    lease_seconds: float
    heartbeat_seconds: float
    thread_id: int = field(default_factory=threading.get_ident)
    #: Set once the user's function is entered (the attempt that owns the row).
    execution: TaskExecution | None = None
    attempt: int | None = None
    timeout: float | None = None
    started: float = 0.0
    in_user_code: bool = False
    cancel_confirmed: bool = False
    #: The soft time limit arrived during a database call: raise at the next interrupt.
    timeout_pending: bool = False

    @property
    def interrupt_pending(self) -> bool:
        """Whether the function must be interrupted (cancel confirmed, or a deferred time limit)."""
        return self.in_user_code and (self.cancel_confirmed or self.timeout_pending)

    @property
    def elapsed(self) -> float:
        """Seconds since the user's function was entered."""
        return time.monotonic() - self.started if self.started else 0.0


_lock = threading.Lock()
_deliveries: dict[int, Delivery] = {}


@contextmanager
def delivery(execution_id: str, worker_id: str, lease_seconds: float, heartbeat_seconds: float) -> Iterator[Delivery]:
    """Register the delivery handled by the calling thread for the duration of the block."""
    current = Delivery(execution_id, worker_id, lease_seconds, heartbeat_seconds)
    with _lock:
        _deliveries[current.thread_id] = current
    try:
        yield current
    finally:
        current.in_user_code = False
        with _lock:
            _deliveries.pop(current.thread_id, None)


def active_deliveries() -> list[Delivery]:
    """A snapshot of the deliveries running in this process."""
    with _lock:
        return list(_deliveries.values())


def main_thread_delivery() -> Delivery | None:
    """The delivery running in the main thread (where signal handlers run), if any.

    Takes no lock, so signal handlers may call it: a single ``dict.get`` is
    atomic, and a handler interrupting a holder of the lock would deadlock.
    """
    return _deliveries.get(threading.main_thread().ident or 0)


@contextmanager
def user_code(execution: TaskExecution) -> Iterator[None]:
    """Mark the user's function as running for the Celery delivery of ``execution`` in this thread."""
    with _lock:
        current = _deliveries.get(threading.get_ident())
    if current is None or current.execution_id != str(execution.pk):
        yield  # not run by a Celery delivery: nothing to mark
        return
    current.execution = execution
    current.attempt = execution.attempts
    current.timeout = execution.timeout
    current.started = time.monotonic()
    current.in_user_code = True
    try:
        yield
    finally:
        current.in_user_code = False
