"""Stopping a running task function from outside: cancel while running, and hard timeouts.

Two strategies, one contract (:class:`Interrupts`):

* :class:`SignalInterrupts` for process pools (Celery prefork, Django-Q2): the
  task runs in the main thread of a child process; the heartbeat thread sends
  the process a signal and the handler raises in the task function.
* :class:`ThreadInterrupts` for threaded workers (Dramatiq, the ``thread``
  backend): the exception is raised asynchronously in the task's thread
  (``PyThreadState_SetAsyncExc``), at its next Python instruction.

Either raises :class:`~rail_tasks.TaskCancelled` or
:class:`~rail_tasks.TaskTimeout` only while the attempt is inside the task
function, and never while that function is inside a database call (a
connection must not be left mid-query): the heartbeat tries again a few
milliseconds later until the function has stopped.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import FrameType
from typing import Any

from rail_tasks.engine.attempts import RunningAttempt, main_thread_attempt
from rail_tasks.exceptions import TaskCancelled, TaskTimeout

__all__ = [
    "DATABASE_MODULES",
    "Interrupts",
    "SignalInterrupts",
    "ThreadInterrupts",
    "in_database_call",
    "interrupt_error",
]

logger = logging.getLogger("rail_tasks.engine")

#: Code in these modules is never interrupted (a connection must not be left mid-query).
DATABASE_MODULES = ("django.db", "psycopg", "psycopg2", "sqlite3", "MySQLdb", "oracledb")


def in_database_call(frame: FrameType | None) -> bool:
    """Whether ``frame`` (or a caller) is inside a database driver or Django's database layer."""
    while frame is not None:
        if str(frame.f_globals.get("__name__", "")).startswith(DATABASE_MODULES):
            return True
        frame = frame.f_back
    return False


def interrupt_error(attempt: RunningAttempt) -> BaseException:
    """The exception that stops ``attempt``: its timeout, else its cancellation."""
    if attempt.timeout_pending:
        if attempt.timeout is None:
            return TaskTimeout("Task ran past its time limit and was interrupted")
        return TaskTimeout(f"Task ran past its timeout of {attempt.timeout:g}s and was interrupted")
    return TaskCancelled("Task was cancelled while running")


class Interrupts(ABC):
    """How an engine's worker stops a task function that must stop (cancelled, or past its timeout)."""

    def install(self) -> None:  # noqa: B027 - optional: most strategies need no set-up
        """Prepare this process (signal handlers); called by the kit before each delivery."""

    @abstractmethod
    def interrupt(self, attempt: RunningAttempt) -> bool:
        """Raise :func:`interrupt_error` in ``attempt``'s task function now, if that is safe.

        Called from the heartbeat thread while ``attempt.interrupt_pending``,
        again every few milliseconds until the function has stopped. Returns
        whether the exception was sent.
        """

    def discard_pending(self, attempt: RunningAttempt) -> None:  # noqa: B027 - optional
        """Forget an interrupt sent but not yet raised (called as the function returns, in its thread)."""


class SignalInterrupts(Interrupts):
    """Interrupt the main thread of this process with a signal (process pools).

    :param signal_name: the signal the heartbeat sends; ``SIGUSR2`` by default
        (Celery's ``revoke(terminate=True, signal="SIGUSR2")`` sends the same,
        so a revoke stops the task at once).
    """

    def __init__(self, signal_name: str = "SIGUSR2") -> None:
        self.signal_name = signal_name
        self._installed_pid: int | None = None
        #: Called when a signal arrives while the attempt is not ready to raise (the heartbeat's wake-up).
        self.on_deferred: Callable[[], None] | None = None

    @property
    def signum(self) -> signal.Signals:
        """The signal number."""
        return signal.Signals[self.signal_name]

    def install(self) -> None:
        """Install the handler in this process, once (from the main thread only)."""
        pid = os.getpid()
        if self._installed_pid == pid or threading.current_thread() is not threading.main_thread():
            return
        try:
            signal.signal(self.signum, self._handle)
        except (KeyError, ValueError, OSError) as exc:
            logger.debug("rail-tasks: %s handler not installed: %s", self.signal_name, exc)
        self._installed_pid = pid

    def interrupt(self, attempt: RunningAttempt) -> bool:
        """Signal the main thread if ``attempt`` runs there."""
        ident = threading.main_thread().ident
        if ident is None or attempt.thread_id != ident or self._installed_pid != os.getpid():
            return False
        signal.pthread_kill(ident, self.signum)
        return True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Lock-free on purpose: the signal may interrupt any code, including a lock holder.
        current = main_thread_attempt()
        if current is None or not current.in_user_code:
            return
        if current.interrupt_pending and not in_database_call(frame):
            raise interrupt_error(current)
        # Not confirmed yet, or raising now would leave a connection mid-query: the heartbeat
        # checks the row and signals again shortly.
        if self.on_deferred is not None:
            self.on_deferred()


class _ThreadCancelled(TaskCancelled):
    def __init__(self, *args: Any) -> None:
        super().__init__(*(args or ("Task was cancelled while running",)))


class _ThreadTimeout(TaskTimeout):
    def __init__(self, *args: Any) -> None:
        super().__init__(*(args or ("Task ran past its timeout and was interrupted",)))


#: Exceptions raised asynchronously carry no message of their own; the runner records these as their base class.
ASYNC_INTERRUPTS = (_ThreadCancelled, _ThreadTimeout)


class ThreadInterrupts(Interrupts):
    """Raise the interrupt in the attempt's own thread, asynchronously (threaded workers).

    CPython raises it at the thread's next Python instruction; a thread
    blocked in C code (``time.sleep``, a socket read) sees it when that call
    returns. Long blocking calls in threaded workers should therefore have
    timeouts of their own.
    """

    _set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc

    def interrupt(self, attempt: RunningAttempt) -> bool:
        """Schedule the exception in ``attempt``'s thread unless it is in a database call."""
        with attempt.lock:
            if not attempt.in_user_code:
                return False
            if in_database_call(sys._current_frames().get(attempt.thread_id)):
                return False
            error = _ThreadTimeout if attempt.timeout_pending else _ThreadCancelled
            self._set_async_exc(ctypes.c_ulong(attempt.thread_id), ctypes.py_object(error))
            return True

    def discard_pending(self, attempt: RunningAttempt) -> None:
        """Clear an exception scheduled for this thread that has not been raised yet."""
        with contextlib.suppress(Exception):
            self._set_async_exc(ctypes.c_ulong(attempt.thread_id), None)
