"""The ``database`` backend's worker (``python manage.py rail_tasks_worker``).

``Worker(WorkerOptions(...)).run()`` is what the command runs; tests and
custom entry points can run it the same way. Modules, one job each:

* :mod:`~rail_tasks.worker.options`: what a worker does (queues, processes, intervals);
* :mod:`~rail_tasks.worker.claim`: claiming ready rows, reaping expired leases;
* :mod:`~rail_tasks.worker.leases`: heartbeats, cancel checks, handing rows back;
* :mod:`~rail_tasks.worker.notify`: PostgreSQL LISTEN/NOTIFY;
* :mod:`~rail_tasks.worker.child`: the child process that runs one task at a time;
* :mod:`~rail_tasks.worker.shutdown`: SIGTERM/SIGINT;
* :mod:`~rail_tasks.worker.supervisor`: the loop that ties them together.
"""

from __future__ import annotations

from rail_tasks.worker.options import WorkerOptions
from rail_tasks.worker.supervisor import Worker

__all__ = ["Worker", "WorkerOptions"]
