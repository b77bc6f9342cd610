"""The GraphQL errors this package raises, each with an ``extensions.code``.

A task that does not exist and a task the viewer may not see give the very same
``NOT_FOUND`` error, so ids cannot be probed. Anything else that goes wrong in a
resolver of this package is logged and answered ``INTERNAL_ERROR`` without its text
(:func:`guarded`): a database driver's message can name tables, values and DSNs.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

from django.tasks.exceptions import InvalidTask
from graphql import GraphQLError

from rail_tasks import InvalidTaskArguments, TasksDisabled

__all__ = ["bad_request", "enqueue_error", "forbidden", "guarded", "internal_error", "not_found", "unauthenticated"]

logger = logging.getLogger("rail_tasks.graphql")


def not_found() -> GraphQLError:
    """The one answer for a missing id and for another user's task."""
    return GraphQLError("Task not found.", extensions={"code": "NOT_FOUND"})


def unauthenticated() -> GraphQLError:
    """The viewer must be logged in (``myTaskUpdates``)."""
    return GraphQLError("Authentication required.", extensions={"code": "UNAUTHENTICATED"})


def forbidden(message: str) -> GraphQLError:
    """The viewer sees the task but may not do this to it (cancel, retry)."""
    return GraphQLError(message, extensions={"code": "FORBIDDEN"})


def internal_error() -> GraphQLError:
    """Something unexpected failed; its text stays in the server's log."""
    return GraphQLError("Internal error.", extensions={"code": "INTERNAL_ERROR"})


def guarded[F: Callable[..., Any]](resolver: F) -> F:
    """Let a resolver's ``GraphQLError`` through; log anything else and answer :func:`internal_error`."""
    if inspect.iscoroutinefunction(resolver):

        @functools.wraps(resolver)
        async def run_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await resolver(*args, **kwargs)
            except GraphQLError:
                raise
            except Exception as exc:
                logger.exception("GraphQL resolver %s failed", resolver.__qualname__)
                raise internal_error() from exc

        return run_async  # type: ignore[return-value]

    @functools.wraps(resolver)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return resolver(*args, **kwargs)
        except GraphQLError:
            raise
        except Exception as exc:
            logger.exception("GraphQL resolver %s failed", resolver.__qualname__)
            raise internal_error() from exc

    return run  # type: ignore[return-value]


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
