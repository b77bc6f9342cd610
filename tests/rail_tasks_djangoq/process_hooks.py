"""A plugin for the qcluster subprocesses: records ``rail_tasks_worker_start`` / ``_stop`` per process."""

from __future__ import annotations

from rail_tasks import hookimpl
from rail_tasks.testing.recorder import record_event


@hookimpl
def rail_tasks_worker_start(worker_id: str) -> None:
    """Record that this process started running (or reaping) attempts."""
    record_event("hook:worker_start", None, worker_id=worker_id)


@hookimpl
def rail_tasks_worker_stop(worker_id: str) -> None:
    """Record that this process is about to exit."""
    record_event("hook:worker_stop", None, worker_id=worker_id)
