"""Exceptions raised by rail-tasks."""

from __future__ import annotations

from django.tasks.exceptions import InvalidTask

__all__ = [
    "ExecutionNotFound",
    "InvalidTaskArguments",
    "InvalidTaskResult",
    "TaskCancelled",
    "TaskTimeout",
    "TasksDisabled",
    "WorkerLost",
]


class InvalidTaskArguments(InvalidTask, TypeError):
    """Task arguments that do not survive a JSON round trip; raised at enqueue."""


class InvalidTaskResult(ValueError):
    """A task's return value cannot be stored (not JSON, too large); the attempt fails and is never retried.

    Retrying would run the task's side effects again and fail the same way.
    """


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
