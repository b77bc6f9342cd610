"""rail-tasks plugin hooks of rail-tasks-djangoq (entry point ``djangoq`` in the ``rail_tasks`` group).

Registers the backend name, and, in projects that run Django-Q2, connects
its worker signals and the sentinel's reaper (nothing of Django-Q2 is
imported otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django.apps import apps

from rail_tasks import hookimpl


@hookimpl
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Register the ``django_q`` backend short name."""
    register("django_q", "rail_tasks_djangoq.DjangoQBackend")


def _connect() -> None:
    from django_q.signals import post_spawn

    from rail_tasks_djangoq.worker import start_reaper, worker_spawned

    post_spawn.connect(worker_spawned, dispatch_uid="rail_tasks_djangoq.worker_spawned")
    # The sentinel forks its pool right after it starts: the first fork it makes starts its reaper.
    os.register_at_fork(after_in_parent=start_reaper)


if apps.is_installed("django_q"):
    _connect()
