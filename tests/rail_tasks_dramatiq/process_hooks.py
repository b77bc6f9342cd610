"""A test plugin: appends each ``rail_tasks_worker_start`` / ``_stop`` to the file named by an env variable."""

from __future__ import annotations

import json
import os

from rail_tasks import hookimpl

EVENTS_ENV = "RAIL_TASKS_TEST_DRAMATIQ_PROCESS_EVENTS"


def _write(event: str, worker_id: str) -> None:
    path = os.environ.get(EVENTS_ENV)
    if path:
        with open(path, "a") as out:
            out.write(json.dumps({"event": event, "worker_id": worker_id, "pid": os.getpid()}) + "\n")


@hookimpl
def rail_tasks_worker_start(worker_id: str) -> None:
    """Record the start."""
    _write("start", worker_id)


@hookimpl
def rail_tasks_worker_stop(worker_id: str) -> None:
    """Record the stop."""
    _write("stop", worker_id)
