"""rail-tasks plugin hooks of rail-tasks-celery (entry point ``celery`` in the ``rail_tasks`` group)."""

from __future__ import annotations

from collections.abc import Callable

from rail_tasks import hookimpl
from rail_tasks_celery import signals  # noqa: F401 - connects the worker's Celery signals


@hookimpl
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Register the ``celery`` backend short name."""
    register("celery", "rail_tasks_celery.CeleryBackend")
