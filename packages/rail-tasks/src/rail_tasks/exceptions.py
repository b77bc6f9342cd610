"""Exceptions raised by rail-tasks."""

from __future__ import annotations

from django.tasks.exceptions import InvalidTask

__all__ = [
    "ExecutionNotFound",
    "InvalidTaskArguments",
    "TaskCancelled",
    "TaskTimeout",
    "TasksDisabled",
    "WorkerLost",
]


class InvalidTaskArguments(InvalidTask, TypeError):
    """Task arguments that do not survive a JSON round trip; raised at enqueue."""


class TasksDisabled(InvalidTask):
    """Enqueue was attempted while ``enabled`` is ``False`` in the task settings."""


class TaskCancelled(Exception):
    """Raised inside a running task by ``update_progress`` once cancellation was requested."""


class TaskTimeout(Exception):
    """The task ran past its ``timeout``; recorded as a failure and retried by the usual rules."""


class WorkerLost(Exception):
    """The process running an execution vanished (killed, crashed, lease expired)."""


class ExecutionNotFound(LookupError):
    """No execution with that id (or none the caller may see)."""
