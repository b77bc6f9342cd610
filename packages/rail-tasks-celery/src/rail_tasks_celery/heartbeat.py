"""One heartbeat thread per worker process: renews leases and notices cancel requests.

While a delivery runs, the lease taken at claim is renewed every
``heartbeat_seconds``, so the sweeper (and a redelivered message) can tell a
live attempt from one whose process died. The same pass reads
``cancel_requested``: when the main thread's execution was asked to stop, it
is interrupted (see :mod:`rail_tasks_celery.interrupts`).
"""

from __future__ import annotations

import logging
import os
import threading

from django.db import close_old_connections, connections

from rail_tasks_celery.delivery import Delivery, active_deliveries

__all__ = ["ensure_started", "poke"]

logger = logging.getLogger("rail_tasks.celery")

_wake = threading.Event()
_started_pid: int | None = None
_interval = 10.0
_start_lock = threading.Lock()


def ensure_started(interval: float) -> None:
    """Start this process's heartbeat thread if it is not running (at most every ``interval`` seconds)."""
    global _started_pid, _interval
    _interval = min(_interval, interval) if _started_pid == os.getpid() else interval
    if _started_pid == os.getpid():
        return
    with _start_lock:
        if _started_pid == os.getpid():
            return
        _wake.clear()
        thread = threading.Thread(target=_loop, name="rail-tasks-celery-heartbeat", daemon=True)
        thread.start()
        _started_pid = os.getpid()


def poke() -> None:
    """Run a heartbeat pass now (safe from a signal handler)."""
    _wake.set()


def _loop() -> None:
    while True:
        _wake.wait(_interval)
        _wake.clear()
        try:
            close_old_connections()
            for current in active_deliveries():
                _beat(current)
        except Exception:
            logger.exception("rail-tasks-celery heartbeat failed; retrying")
            connections.close_all()


def _beat(current: Delivery) -> None:
    from rail_tasks import TaskExecution

    execution, attempt = current.execution, current.attempt
    if execution is None or attempt is None:
        return
    if not execution.renew_lease(attempt, current.lease_seconds):
        return  # the attempt no longer owns the row
    requested = TaskExecution.objects.filter(pk=execution.pk).values_list("cancel_requested", flat=True).first()
    if requested and current.in_user_code and current.thread_id == threading.main_thread().ident:
        from rail_tasks_celery.interrupts import interrupt_main_thread

        current.cancel_confirmed = True
        interrupt_main_thread()
