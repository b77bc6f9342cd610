"""GraphQL types: the ``JSON`` scalar, ``TaskExecution`` and the task mutation payload.

``TaskExecution`` resolves its fields from anything with the model's attribute
names: a :class:`rail_tasks.TaskExecution` row (queries, mutations) or a
:class:`rail_tasks_graphql.events.TaskSnapshot` carried by a subscription event,
so an event shows the values of the moment it happened.
"""

from __future__ import annotations

from typing import Any

import graphene
from graphene.types.generic import GenericScalar

from rail_tasks.permissions import shown_error, shown_traceback

__all__ = ["JSON", "TaskExecutionFields", "TaskExecutionType", "TaskMutationPayload", "viewer_of"]


class JSON(GenericScalar):  # type: ignore[misc]
    """Any JSON value: object, list, string, number, boolean or null (task arguments and results)."""


def viewer_of(info: Any) -> Any:
    """The user behind ``info.context`` (``None`` when there is none)."""
    return getattr(info.context, "user", None)


class TaskExecutionFields:
    """The fields (and resolvers) of a task execution, to mix into an object type.

    :class:`TaskExecutionType` is the GraphQL type; channels-graphql-ws subscriptions
    (whose output type must be the subscription class itself) mix these in too.
    """

    id = graphene.ID(required=True, description="The task id (a UUID).")
    name = graphene.String(required=True, description="The task's name, e.g. generate_report.")
    status = graphene.String(required=True, description="pending, running, completed, failed, cancelled or retrying.")
    progress = graphene.Int(required=True, description="Progress from 0 to 100.")
    progress_message = graphene.String(description="The last progress message.")
    result = graphene.Field(JSON, description="The task's return value once completed.")
    error = graphene.String(
        description="The error of the last failed attempt: the raw message for viewers with the view "
        "permission, else the exception class and a fixed sentence (see docs/security.md)."
    )
    exception_class = graphene.String(description="The exception class of the last failure, e.g. builtins.ValueError.")
    traceback = graphene.String(
        description="The traceback of the last failure (viewers with rail_tasks.view_taskexecution only, else null)."
    )
    retry_count = graphene.Int(required=True, description="Retries so far (attempts after the first).")
    attempts = graphene.Int(required=True, description="Attempts started so far.")
    queue = graphene.String(required=True, description="The queue the task runs on.")
    created_at = graphene.DateTime(required=True, description="When the task was enqueued.")
    started_at = graphene.DateTime(description="When the first attempt started.")
    completed_at = graphene.DateTime(description="When the task finished.")
    event = graphene.String(
        description="In subscriptions, the change this update reports (enqueued, started, progress, "
        "completed, retrying, failed, cancelled); null in queries."
    )

    @staticmethod
    def resolve_id(parent: Any, info: Any) -> str:
        return str(parent.id)

    @staticmethod
    def resolve_progress_message(parent: Any, info: Any) -> str | None:
        return parent.progress_message or None

    @staticmethod
    def resolve_error(parent: Any, info: Any) -> str | None:
        return shown_error(viewer_of(info), parent)

    @staticmethod
    def resolve_exception_class(parent: Any, info: Any) -> str | None:
        return getattr(parent, "exception_class", "") or None

    @staticmethod
    def resolve_traceback(parent: Any, info: Any) -> str | None:
        return shown_traceback(viewer_of(info), parent)

    @staticmethod
    def resolve_event(parent: Any, info: Any) -> str | None:
        return getattr(parent, "event", None)


class TaskExecutionType(TaskExecutionFields, graphene.ObjectType):  # type: ignore[misc]
    """One execution of a background task: where it is, and how it ended."""

    class Meta:
        name = "TaskExecution"


class TaskMutationPayload(graphene.ObjectType):  # type: ignore[misc]
    """What a task mutation returns: the new task's id and status, and the task itself.

    ``taskId`` is spelled so in every schema (the seeds use it with and without
    ``auto_camelcase``); snake_case schemas also offer ``task_id``.
    """

    task_id = graphene.ID(required=True, description="The id to query or subscribe to.")
    task_id_seed = graphene.ID(required=True, name="taskId", description="The id to query or subscribe to.")
    status = graphene.String(required=True, description="The task's status right after enqueue.")
    task = graphene.Field(TaskExecutionType, required=True, description="The task.")

    @staticmethod
    def resolve_task_id(parent: Any, info: Any) -> str:
        return str(parent.task.id)

    @staticmethod
    def resolve_task_id_seed(parent: Any, info: Any) -> str:
        return str(parent.task.id)

    @staticmethod
    def resolve_status(parent: Any, info: Any) -> str:
        return str(parent.task.status)
