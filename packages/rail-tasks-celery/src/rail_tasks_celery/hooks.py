"""rail-tasks plugin hooks of rail-tasks-celery (entry point ``celery`` in the ``rail_tasks`` group)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from rail_tasks import hookimpl
from rail_tasks_celery import signals  # noqa: F401 - connects the worker's Celery signals
from rail_tasks_celery.delivery import user_code

if TYPE_CHECKING:
    from rail_tasks import TaskExecution


@hookimpl
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Register the ``celery`` backend short name."""
    register("celery", "rail_tasks_celery.CeleryBackend")


@hookimpl
def rail_tasks_execution_context(execution: TaskExecution) -> AbstractContextManager[Any] | None:
    """Mark the task function as running, so time-limit and cancel signals may interrupt it."""
    return user_code(execution)
