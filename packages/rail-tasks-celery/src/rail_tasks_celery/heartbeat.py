"""One heartbeat thread per worker process: renews leases and notices cancel requests.

While a delivery runs, the lease taken at claim is renewed every
``heartbeat_seconds``, so the sweeper (and a redelivered message) can tell a
live attempt from one whose process died. The same pass reads
``cancel_requested``: when the main thread's execution was asked to stop, it
is interrupted (see :mod:`rail_tasks_celery.interrupts`), and interrupted
again every few milliseconds until the task function has stopped.

Signal handlers wake the thread through a pipe (``os.write`` takes no lock).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading

from django.db import close_old_connections, connections

from rail_tasks_celery.delivery import Delivery, active_deliveries

__all__ = ["ensure_started", "poke"]

logger = logging.getLogger("rail_tasks.celery")

#: Seconds between two interrupts of a task whose cancellation is confirmed.
RESIGNAL_SECONDS = 0.05

_started_pid: int | None = None
_interval = 10.0
_start_lock = threading.Lock()
_pipe: tuple[int, int] | None = None


def ensure_started(interval: float) -> None:
    """Start this process's heartbeat thread if it is not running (at most every ``interval`` seconds)."""
    global _started_pid, _interval, _pipe
    pid = os.getpid()
    if _started_pid == pid:
        _interval = min(_interval, interval)
        return
    with _start_lock:
        if _started_pid == pid:
            return
        _interval = interval
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        _pipe = (read_end, write_end)
        thread = threading.Thread(target=_loop, args=(read_end,), name="rail-tasks-celery-heartbeat", daemon=True)
        thread.start()
        _started_pid = pid


def poke() -> None:
    """Run a heartbeat pass now (safe from a signal handler: one non-blocking ``os.write``)."""
    if _pipe is not None and _started_pid == os.getpid():
        with contextlib.suppress(OSError):  # a full pipe already means "wake up"
            os.write(_pipe[1], b"!")


def _loop(read_end: int) -> None:
    while True:
        confirmed = [d for d in active_deliveries() if d.interrupt_pending]
        ready, _, _ = select.select([read_end], [], [], RESIGNAL_SECONDS if confirmed else _interval)
        if ready:
            with contextlib.suppress(OSError):
                os.read(read_end, 4096)
        try:
            close_old_connections()
            for current in active_deliveries():
                _beat(current)
        except Exception:
            logger.exception("rail-tasks-celery heartbeat failed; retrying")
            connections.close_all()


def _beat(current: Delivery) -> None:
    from rail_tasks import TaskExecution
    from rail_tasks_celery.interrupts import interrupt_main_thread

    execution, attempt = current.execution, current.attempt
    if execution is None or attempt is None:
        return
    in_main = current.thread_id == threading.main_thread().ident
    if current.timeout_pending or current.cancel_confirmed:
        if current.interrupt_pending and in_main:
            interrupt_main_thread()  # until the function has stopped
        return
    if not execution.renew_lease(attempt, current.lease_seconds):
        return  # the attempt no longer owns the row
    requested = TaskExecution.objects.filter(pk=execution.pk).values_list("cancel_requested", flat=True).first()
    if requested and current.in_user_code and in_main:
        current.cancel_confirmed = True
        interrupt_main_thread()
