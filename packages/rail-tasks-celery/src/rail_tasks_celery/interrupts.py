"""Signal handlers that stop a rail task inside a Celery prefork child.

* Soft time limit (``SIGUSR1``, sent by the pool): inside a rail task's
  function it raises :class:`rail_tasks.TaskTimeout`, so the attempt is
  recorded as a timeout failure and retried by the core's rules. Outside rail
  tasks Celery's own handler runs (``SoftTimeLimitExceeded``).
* Cancel (``SIGUSR2``, sent by ``revoke(terminate=True, signal="SIGUSR2")``):
  the heartbeat thread first confirms in the database that this very
  execution was asked to stop, then the handler raises
  :class:`rail_tasks.TaskCancelled` in the task's function, and the core
  records ``cancelled``. A signal aimed at a task that has finished meanwhile
  is ignored.

Handlers are installed lazily by the first delivery in each process (the pool
installs its own after Celery's ``worker_process_init``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from rail_tasks import TaskCancelled, TaskTimeout
from rail_tasks_celery import heartbeat
from rail_tasks_celery.delivery import main_thread_delivery

__all__ = ["CANCEL_SIGNAL", "install"]

logger = logging.getLogger("rail_tasks.celery")

#: The signal ``revoke(terminate=True)`` sends to stop a running rail task.
CANCEL_SIGNAL = "SIGUSR2"
#: Seconds of slack when checking that a soft time limit belongs to the running attempt.
_TIMEOUT_SLACK = 0.5

#: Code in these modules is never interrupted by a cancel (a connection must not be left mid-query).
_DATABASE_MODULES = ("django.db", "psycopg", "psycopg2", "sqlite3", "MySQLdb", "oracledb")

_installed_pid: int | None = None
_previous_soft: Any = None

Handler = Callable[[int, FrameType | None], Any]


def _on_soft_time_limit(signum: int, frame: FrameType | None) -> None:
    current = main_thread_delivery()
    if current is None:
        if callable(_previous_soft):
            _previous_soft(signum, frame)  # a plain Celery task: Celery's SoftTimeLimitExceeded
        return
    if not current.in_user_code:
        return  # inside rail-tasks' own bookkeeping: the hard time limit is the backstop
    if current.timeout is not None and current.elapsed + _TIMEOUT_SLACK < current.timeout:
        return  # meant for an earlier task of this process
    if _in_database_call(frame):
        current.timeout_pending = True  # raised at the next interrupt, outside the database call
        heartbeat.poke()
        return
    raise _timeout(current.timeout)


def _timeout(timeout: float | None) -> TaskTimeout:
    if timeout is None:  # a limit from the Celery app's own settings (task_soft_time_limit)
        return TaskTimeout("Task ran past the Celery soft time limit")
    return TaskTimeout(f"Task ran past its timeout of {timeout:g}s (Celery soft time limit)")


def _in_database_call(frame: FrameType | None) -> bool:
    """Whether the interrupted code is inside a database driver or Django's database layer."""
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith(_DATABASE_MODULES):
            return True
        frame = frame.f_back
    return False


def _on_cancel(signum: int, frame: FrameType | None) -> None:
    # Lock-free on purpose: the signal may interrupt any code, including a lock holder.
    current = main_thread_delivery()
    if current is None or not current.in_user_code:
        return
    if (current.cancel_confirmed or current.timeout_pending) and not _in_database_call(frame):
        if current.timeout_pending:
            raise _timeout(current.timeout)
        raise TaskCancelled("Task was cancelled")
    # Not confirmed yet, or raising now would leave a database connection mid-query:
    # the heartbeat thread checks the row and signals again shortly.
    heartbeat.poke()


def install() -> None:
    """Install the handlers in this process, once (main thread of a prefork child only)."""
    global _installed_pid, _previous_soft
    pid = os.getpid()
    if _installed_pid == pid or threading.current_thread() is not threading.main_thread():
        return
    try:
        soft = signal.Signals["SIGUSR1"]
        cancel = signal.Signals[CANCEL_SIGNAL]
        previous = signal.getsignal(soft)
        if previous is not _on_soft_time_limit:
            _previous_soft = previous
        signal.signal(soft, _on_soft_time_limit)
        signal.signal(cancel, _on_cancel)
    except (KeyError, ValueError, OSError) as exc:  # no such signal here, or not the main thread
        logger.debug("rail-tasks-celery: signal handlers not installed: %s", exc)
    _installed_pid = pid


def interrupt_main_thread() -> None:
    """Deliver the cancel signal to this process's main thread (from the heartbeat thread)."""
    ident = threading.main_thread().ident
    if ident is not None:
        signal.pthread_kill(ident, signal.Signals[CANCEL_SIGNAL])
