"""The GraphQL errors this package raises, each with an ``extensions.code``.

A task that does not exist and a task the viewer may not see give the very same
``NOT_FOUND`` error, so ids cannot be probed.
"""

from __future__ import annotations

import logging

from django.tasks.exceptions import InvalidTask
from graphql import GraphQLError

from rail_tasks import InvalidTaskArguments, TasksDisabled

__all__ = ["bad_request", "enqueue_error", "not_found", "unauthenticated"]

logger = logging.getLogger("rail_tasks.graphql")


def not_found() -> GraphQLError:
    """The one answer for a missing id and for another user's task."""
    return GraphQLError("Task not found.", extensions={"code": "NOT_FOUND"})


def unauthenticated() -> GraphQLError:
    """The viewer must be logged in (``myTaskUpdates``)."""
    return GraphQLError("Authentication required.", extensions={"code": "UNAUTHENTICATED"})


def bad_request(message: str) -> GraphQLError:
    """An argument the client can fix (a bad ``status`` filter, a negative ``limit``)."""
    return GraphQLError(message, extensions={"code": "BAD_REQUEST"})


def enqueue_error(exc: BaseException) -> GraphQLError:
    """Why a task mutation could not enqueue; unexpected errors do not leak their text."""
    if isinstance(exc, TasksDisabled):
        return GraphQLError("Background tasks are disabled.", extensions={"code": "TASKS_DISABLED"})
    if isinstance(exc, InvalidTaskArguments | InvalidTask):
        return GraphQLError(str(exc), extensions={"code": "INVALID_TASK"})
    logger.error("A task mutation could not enqueue its task", exc_info=exc)
    return GraphQLError("The task could not be enqueued.", extensions={"code": "ENQUEUE_FAILED"})
