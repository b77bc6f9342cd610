"""The cluster side: Django-Q2's task function, its time limit, and the processes' hooks.

* :func:`run` is the one function every message names. It runs in the main
  thread of a pool process, so the kit stops a task on cancel or at its
  ``timeout`` with signals (:class:`~rail_tasks.engine.SignalInterrupts`).
* Django-Q2's own timeout is the backstop, a few seconds later: its
  ``SIGALRM`` is turned into :class:`~rail_tasks.TaskTimeout` (Django-Q2 would
  raise ``SystemExit``), and if the task cannot be stopped before Django-Q2's
  guard kills the process, the timeout is recorded first.
* Each pool process fires ``rail_tasks_worker_start`` / ``_stop``; the
  sentinel (one per cluster, outliving its pool) runs the kit's reaper, which
  resends what a killed worker took with it (the Redis broker never redelivers).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.util
import signal
import logging
import socket
import sys
import threading
from types import FrameType
from typing import Any

from django.db import connections
from django.tasks import task_backends

from rail_tasks import TaskTimeout
from rail_tasks.engine import (
    Reaper,
    RunningAttempt,
    SignalInterrupts,
    active_attempts,
    deliver,
    fail_running_attempt,
    in_database_call,
    main_thread_attempt,
    worker_started,
    worker_stopping,
)
from rail_tasks.engine.heartbeat import poke

__all__ = ["FUNCTION", "run", "start_reaper", "worker_spawned"]

#: The dotted path every message names (a string, so Django-Q2 pickles no function).
FUNCTION = "rail_tasks_djangoq.worker.run"

#: Seconds after Django-Q2's timeout at which a task that could not be stopped is recorded as timed out
#: (Django-Q2's guard kills the process 3 seconds after its timeout).
GUARD_MARGIN = 1.5

logger = logging.getLogger("rail_tasks.djangoq")

HOST = socket.gethostname()
_INTERRUPTS = SignalInterrupts()
_reaper: Reaper | None = None


def run(execution_id: str, message_id: str, lease_seconds: float, heartbeat_seconds: float) -> None:
    """Django-Q2's task: run rail-tasks execution ``execution_id`` (all the message carries is ids)."""
    previous = _take_alarm()
    try:
        # Django-Q2 gives no redelivery flag, and our messages never arrive before their run_after (the ORM
        # row stays locked, the schedule waits): one for an execution not yet due is an earlier attempt's.
        deliver(
            execution_id,
            worker_id=f"{message_id}@{HOST}",
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            interrupts=_INTERRUPTS,
            redelivered=True,
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGALRM, previous)


def _take_alarm() -> Any:
    """Replace Django-Q2's ``SIGALRM`` handler (set for this task) with :func:`_on_alarm`."""
    with contextlib.suppress(ValueError, AttributeError):  # not the main thread, or no SIGALRM
        return signal.signal(signal.SIGALRM, _on_alarm)
    return None


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    """Django-Q2's timeout arrived: stop the task with ``TaskTimeout``, now or as soon as that is safe."""
    attempt = main_thread_attempt()
    if attempt is None:
        return  # rail-tasks' own bookkeeping: let it finish; Django-Q2's guard is still there
    attempt.timeout_pending = True
    timer = threading.Timer(GUARD_MARGIN, _record_guard_kill, args=(attempt,))
    timer.daemon = True
    timer.start()
    if attempt.in_user_code and not in_database_call(frame):
        raise TaskTimeout(f"Task ran past Django-Q2's time limit and was interrupted (attempt {attempt.attempt})")
    poke()  # the kit's heartbeat interrupts it once it leaves the database call


def _record_guard_kill(attempt: RunningAttempt) -> None:
    """The task is still running after Django-Q2's timeout: record the timeout before the guard kills us."""
    if not any(running is attempt for running in active_attempts()):
        return
    error = TaskTimeout("Task ran past Django-Q2's time limit and its process was stopped")
    try:
        fail_running_attempt(attempt.pk, error, worker_prefix=str(attempt.execution.worker_id or ""))
    except Exception:
        logger.exception("Could not record the timeout of execution %s", attempt.pk)
    finally:
        connections.close_all()


def worker_spawned(**kwargs: Any) -> None:
    """Django-Q2's ``post_spawn``: a pool process is ready; it says so once, and again as it exits."""
    worker_started(f"djangoq:{kwargs.get('proc_name', '')}@{HOST}")
    multiprocessing.util.Finalize(None, worker_stopping, exitpriority=10)  # pool processes skip atexit


def _aliases() -> list[str]:
    from rail_tasks_djangoq.backend import DjangoQBackend

    found = []
    for alias in task_backends.settings:
        with contextlib.suppress(Exception):
            if isinstance(task_backends[alias], DjangoQBackend):
                found.append(alias)
    return found


def start_reaper() -> None:
    """Start the kit's reaper once in this cluster's sentinel (called after the sentinel forks its pool)."""
    try:
        _start_reaper()
    except Exception:
        logger.exception("rail-tasks-djangoq could not start its reaper")


def _start_reaper() -> None:
    global _reaper
    cluster = sys.modules.get("django_q.cluster")  # not imported: this process is no Django-Q2 cluster
    # multiprocessing keeps the target of each process; the sentinel is the one whose target is Sentinel.
    target = getattr(multiprocessing.current_process(), "_target", None)
    if _reaper is not None or cluster is None or target is not cluster.Sentinel:
        return
    backends = [task_backends[alias] for alias in _aliases()]
    if not backends:
        return
    _reaper = Reaper(
        _aliases,
        interval=min(float(getattr(b, "reap_interval", 30.0)) for b in backends),
        resubmit_after=min(float(getattr(b, "resubmit_after", 300.0)) for b in backends),
    )
    worker_started(f"djangoq-sentinel:{multiprocessing.current_process().name}@{HOST}")
    _reaper.start()
    multiprocessing.util.Finalize(None, _reaper.stop, exitpriority=20)
    multiprocessing.util.Finalize(None, worker_stopping, exitpriority=10)
