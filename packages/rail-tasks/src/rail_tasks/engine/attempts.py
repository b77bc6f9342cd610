"""The attempts running in this process, and the stretch where each is inside the task function.

The runner registers every attempt it runs (:func:`running`) and marks the
call of the task function (:meth:`RunningAttempt.user_code`). The kit's
heartbeat renews leases from this registry, and its interrupts read it to
decide whether a cancel or a timeout may be raised: only inside the task
function, never in rail-tasks' own bookkeeping.

Lookups from signal handlers take no lock (:func:`main_thread_attempt`): a
handler that interrupted a holder of the lock would deadlock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rail_tasks.engine.interrupts import Interrupts
    from rail_tasks.models import TaskExecution

__all__ = [
    "DeliveryOptions",
    "RunningAttempt",
    "active_attempts",
    "current_attempt",
    "delivery_options",
    "main_thread_attempt",
    "running",
]


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How the engine running this thread's attempts wants them handled."""

    #: The interrupt strategy (signals for process pools, in-thread for threaded workers), or ``None``.
    interrupts: Interrupts | None = None
    #: Lease length the heartbeat renews for these attempts (``None``: no lease, or renewed elsewhere).
    lease_seconds: float | None = None


@dataclass(eq=False)
class RunningAttempt:
    """One attempt of one execution, running in one thread of this process."""

    execution: TaskExecution
    #: The attempt number that owns the row (every write is fenced by it).
    attempt: int
    #: Seconds the task function may run (the execution's ``timeout``), or ``None``.
    timeout: float | None
    #: Lease length renewed by the heartbeat (``None``: the engine renews leases itself, or has none).
    lease_seconds: float | None = None
    thread_id: int = field(default_factory=threading.get_ident)
    #: Monotonic time the task function was entered (0 until then).
    started: float = 0.0
    in_user_code: bool = False
    #: Cancellation was confirmed in the database: interrupt until the function has stopped.
    cancel_confirmed: bool = False
    #: The timeout passed (or an engine's time limit arrived during a database call): raise it next.
    timeout_pending: bool = False
    #: How this attempt is interrupted (``None``: only at its ``update_progress`` calls).
    interrupts: Interrupts | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pk(self) -> str:
        """The execution id."""
        return str(self.execution.pk)

    @property
    def elapsed(self) -> float:
        """Seconds since the task function was entered."""
        return time.monotonic() - self.started if self.started else 0.0

    @property
    def deadline(self) -> float | None:
        """Monotonic time the timeout passes, once the function has started."""
        if self.timeout is None or not self.started:
            return None
        return self.started + self.timeout

    @property
    def interrupt_pending(self) -> bool:
        """Whether the function must be interrupted now (cancel confirmed, or timed out)."""
        return self.in_user_code and (self.cancel_confirmed or self.timeout_pending)

    @contextmanager
    def user_code(self) -> Iterator[None]:
        """Mark the call of the task function: interrupts are raised only in here."""
        with self.lock:
            self.started = time.monotonic()
            self.in_user_code = True
        try:
            yield
        finally:
            with self.lock:
                self.in_user_code = False
                if self.interrupts is not None:
                    self.interrupts.discard_pending(self)


_lock = threading.Lock()
_attempts: dict[int, RunningAttempt] = {}
_current = threading.local()


@contextmanager
def delivery_options(options: DeliveryOptions) -> Iterator[None]:
    """Apply ``options`` to the attempts the calling thread runs inside the block."""
    previous = getattr(_current, "options", None)
    _current.options = options
    try:
        yield
    finally:
        _current.options = previous


@contextmanager
def running(
    execution: TaskExecution, *, timeout: float | None, lease_seconds: float | None = None
) -> Iterator[RunningAttempt]:
    """Register the attempt the calling thread runs for the duration of the block.

    The engine's interrupt strategy and lease, set with
    :func:`rail_tasks.engine.delivery_options`, are picked up here.
    """
    options = getattr(_current, "options", None)
    current = RunningAttempt(
        execution,
        execution.attempts,
        timeout,
        lease_seconds if lease_seconds is not None else (options.lease_seconds if options else None),
        interrupts=options.interrupts if options else None,
    )
    with _lock:
        _attempts[current.thread_id] = current
    try:
        yield current
    finally:
        current.in_user_code = False
        with _lock:
            if _attempts.get(current.thread_id) is current:
                del _attempts[current.thread_id]


def active_attempts() -> list[RunningAttempt]:
    """A snapshot of the attempts running in this process."""
    with _lock:
        return list(_attempts.values())


def current_attempt() -> RunningAttempt | None:
    """The attempt the calling thread is running, if any."""
    return _attempts.get(threading.get_ident())


def main_thread_attempt() -> RunningAttempt | None:
    """The attempt running in the main thread (where signal handlers run), if any.

    Takes no lock, so signal handlers may call it (a single ``dict.get`` is atomic).
    """
    return _attempts.get(threading.main_thread().ident or 0)
