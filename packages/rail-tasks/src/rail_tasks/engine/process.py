"""Worker processes: fire ``rail_tasks_worker_start`` / ``rail_tasks_worker_stop`` once per process.

Engines call :func:`worker_started` when a process that runs attempts (or
records their outcomes) is ready, and :func:`worker_stopping` when it is about
to exit cleanly, so plugins can set up and flush per-process resources
(telemetry exporters above all: a child that exits unflushed loses its spans).
Both are idempotent per process, so an engine may call them from several
places (a signal and an ``atexit`` handler).
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import os
import threading

from rail_tasks.hookcalls import hooks

__all__ = ["worker_started", "worker_stopping"]

_lock = threading.Lock()
_started: dict[int, str] = {}
_stopped: set[int] = set()


def worker_started(worker_id: str) -> None:
    """This process now runs attempts as ``worker_id``; fires ``rail_tasks_worker_start`` once.

    Also registers :func:`worker_stopping` with ``atexit`` and with
    ``multiprocessing``'s finalizers (forked pool processes end through
    ``os._exit``, which skips ``atexit``), for engines whose processes end
    without a signal of their own.
    """
    pid = os.getpid()
    with _lock:
        if pid in _started:
            return
        _started[pid] = worker_id
    atexit.register(worker_stopping)
    multiprocessing.util.Finalize(None, worker_stopping, exitpriority=10)
    hooks.worker_start(worker_id)


def worker_stopping() -> None:
    """This process is about to exit; fires ``rail_tasks_worker_stop`` once (if it started)."""
    pid = os.getpid()
    with _lock:
        worker_id = _started.get(pid)
        if worker_id is None or pid in _stopped:
            return
        _stopped.add(pid)
    hooks.worker_stop(worker_id)
