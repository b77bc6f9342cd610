"""rail-tasks: Django's Tasks API on any engine, with every execution tracked.

The public API is this module's ``__all__``; everything else may change.
``TaskExecution`` is importable from here once Django's apps are loaded.
"""

from __future__ import annotations

from typing import Any

from rail_tasks.__about__ import __version__
from rail_tasks.backends.base import RailBackend
from rail_tasks.conf import docs_url, task_settings
from rail_tasks.exceptions import (
    ExecutionNotFound,
    InvalidTaskArguments,
    TaskCancelled,
    TasksDisabled,
    TaskTimeout,
    WorkerLost,
)
from rail_tasks.owner import acting_as
from rail_tasks.plugins import hookimpl
from rail_tasks.progress import DetachedTaskHandle, TaskHandle, current_task
from rail_tasks.runner import (
    RailTaskContext,
    cancel_execution,
    fail_execution,
    finish_cancelled_execution,
    retry_execution,
    run_claimed_execution,
    run_execution,
)
from rail_tasks.status import Status
from rail_tasks.task import RailTask, TaskOptions, task

__all__ = [
    "DetachedTaskHandle",
    "ExecutionNotFound",
    "InvalidTaskArguments",
    "RailBackend",
    "RailTask",
    "RailTaskContext",
    "Status",
    "TaskCancelled",
    "TaskExecution",
    "TaskHandle",
    "TaskOptions",
    "TaskTimeout",
    "TasksDisabled",
    "WorkerLost",
    "__version__",
    "acting_as",
    "cancel_execution",
    "current_task",
    "docs_url",
    "fail_execution",
    "finish_cancelled_execution",
    "hookimpl",
    "retry_execution",
    "run_claimed_execution",
    "run_execution",
    "task",
    "task_settings",
]


def __getattr__(name: str) -> Any:
    if name == "TaskExecution":
        from rail_tasks.models import TaskExecution

        return TaskExecution
    raise AttributeError(f"module 'rail_tasks' has no attribute {name!r}")
