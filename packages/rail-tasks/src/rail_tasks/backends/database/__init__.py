"""The ``database`` engine: the ``TaskExecution`` table is the queue, ``rail_tasks_worker`` runs it.

One folder for the engine, its backend and its worker:

* :mod:`~rail_tasks.backends.database.backend`: :class:`DatabaseBackend` (enqueue is the INSERT);
* :mod:`~rail_tasks.backends.database.options`: what a worker does (queues, processes, intervals);
* :mod:`~rail_tasks.backends.database.claim`: claiming ready rows;
* :mod:`~rail_tasks.backends.database.leases`: recording starts, handing rows back;
* :mod:`~rail_tasks.backends.database.notify`: PostgreSQL LISTEN/NOTIFY;
* :mod:`~rail_tasks.backends.database.child`: the child process that runs one task at a time;
* :mod:`~rail_tasks.backends.database.shutdown`: SIGTERM/SIGINT;
* :mod:`~rail_tasks.backends.database.supervisor`: the loop that ties them together.

Leases, cancel requests and lost workers go through the engine kit
(:mod:`rail_tasks.engine`), as on every engine. ``Worker`` and
``WorkerOptions`` load lazily (they need Django's apps).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rail_tasks.backends.database.backend import DatabaseBackend

if TYPE_CHECKING:
    from rail_tasks.backends.database.options import WorkerOptions
    from rail_tasks.backends.database.supervisor import Worker

__all__ = ["DatabaseBackend", "Worker", "WorkerOptions"]

_HOMES = {"Worker": "supervisor", "WorkerOptions": "options"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"rail_tasks.backends.database.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'rail_tasks.backends.database' has no attribute {name!r}")
