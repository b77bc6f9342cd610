"""The cluster side: Django-Q2's task function, its time limit, and the processes' hooks.

* :func:`run` is the one function every message names. It runs in the main
  thread of a pool process, so the kit stops a task on cancel or at its
  ``timeout`` with signals (:class:`~rail_tasks.engine.SignalInterrupts`).
* Django-Q2's own timeout is the backstop, a few seconds later: its
  ``SIGALRM`` is turned into :class:`~rail_tasks.TaskTimeout` (Django-Q2 would
  raise ``SystemExit``), and a task that cannot be stopped before Django-Q2's
  guard kills its process is recorded as timed out first (:class:`_Watchdog`).
* Each pool process fires ``rail_tasks_worker_start`` / ``_stop``; the
  sentinel (one per cluster, outliving its pool) runs the kit's reaper, which
  resends what a killed worker took with it (the Redis broker never redelivers).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.util
import os
import signal
import socket
import sys
import threading
import time
from types import FrameType
from typing import Any

from django.db import connections
from django.tasks import task_backends

from rail_tasks import TaskTimeout
from rail_tasks.engine import (
    Reaper,
    SignalInterrupts,
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


def run(
    execution_id: str,
    message_id: str,
    lease_seconds: float,
    heartbeat_seconds: float,
    time_limit: int | None = None,
    due: float = 0.0,
) -> None:
    """Django-Q2's task: run rail-tasks execution ``execution_id`` (all the message carries is ids and numbers).

    :param time_limit: the timeout Django-Q2 enforces for this message (``None``: the cluster's).
    :param due: when the message was meant to arrive (epoch seconds).
    """
    from django_q.conf import Conf

    previous = _take_alarm()
    limit = time_limit if time_limit is not None else (float(Conf.TIMEOUT) if Conf.TIMEOUT else None)
    if limit:
        _watchdog.arm(execution_id, f"{message_id}@", limit + GUARD_MARGIN)
    try:
        # Django-Q2 gives no redelivery flag. A broker presents a message again `retry` seconds after it
        # handed it out, so only a message that old may belong to an earlier attempt of a now deferred
        # execution: the kit reads the row for those only (a fresh message costs no extra query).
        deliver(
            execution_id,
            worker_id=f"{message_id}@{HOST}",
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            interrupts=_INTERRUPTS,
            redelivered=time.time() - due >= Conf.RETRY,
        )
    finally:
        _watchdog.disarm()
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
        return  # rail-tasks' own bookkeeping: let it finish; the watchdog and Django-Q2's guard are still there
    attempt.timeout_pending = True
    if attempt.in_user_code and not in_database_call(frame):
        raise TaskTimeout(f"Task ran past Django-Q2's time limit and was interrupted (attempt {attempt.attempt})")
    poke()  # the kit's heartbeat interrupts it once it leaves the database call


class _Watchdog:
    """A thread per pool process: a task still running just before Django-Q2's guard kills the process
    (stuck where no signal handler runs, e.g. in a database driver) is recorded as timed out first."""

    def __init__(self) -> None:
        self._wake = threading.Condition()
        self._armed: tuple[str, str, float] | None = None
        self._pid = 0

    def arm(self, execution_id: str, worker_prefix: str, seconds: float) -> None:
        with self._wake:
            self._armed = (execution_id, worker_prefix, time.monotonic() + seconds)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="rail-tasks-djangoq-watchdog", daemon=True).start()
            self._wake.notify()

    def disarm(self) -> None:
        with self._wake:
            self._armed = None

    def _loop(self) -> None:
        while True:
            with self._wake:
                while self._armed is None or time.monotonic() < self._armed[2]:
                    self._wake.wait(None if self._armed is None else self._armed[2] - time.monotonic())
                execution_id, worker_prefix, _ = self._armed
                self._armed = None
            try:
                error = TaskTimeout("Task ran past Django-Q2's time limit and its process was stopped")
                fail_running_attempt(execution_id, error, worker_prefix=worker_prefix)
            except Exception:
                logger.exception("Could not record the timeout of execution %s", execution_id)
            finally:
                connections.close_all()


_watchdog = _Watchdog()


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
