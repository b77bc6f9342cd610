"""``task(id)`` and ``tasks(...)`` queries, ``cancelTask(id)`` and ``retryTask(id)`` mutations.

Compose them into your schema::

    class Query(TaskQueries, graphene.ObjectType): ...
    class Mutation(TaskControlMutations, graphene.ObjectType): ...

Who sees what: the owner (the user who enqueued) and staff. A task of someone
else and a missing id give the same ``NOT_FOUND`` error; anonymous viewers see
no task at all; lists never hold other users' tasks; tracebacks are staff only.
"""

from __future__ import annotations

import uuid
from typing import Any

import graphene
from django.db.models import QuerySet

import rail_tasks
from rail_tasks import ExecutionNotFound, Status, TaskExecution
from rail_tasks_graphql.conf import graphql_setting
from rail_tasks_graphql.errors import bad_request, not_found
from rail_tasks_graphql.types import TaskExecutionType

__all__ = ["TaskControlMutations", "TaskQueries", "visible_task", "visible_tasks"]


def _viewer(info: Any) -> Any:
    return getattr(info.context, "user", None)


def visible_tasks(user: Any) -> QuerySet[Any]:
    """The executions ``user`` may see (``TaskExecution.objects.visible_to``)."""
    queryset: QuerySet[Any] = TaskExecution.objects.visible_to(user)
    return queryset


def visible_task(user: Any, task_id: Any) -> Any:
    """The execution ``task_id`` if ``user`` may see it, else ``None`` (bad ids included)."""
    try:
        pk = uuid.UUID(str(task_id))
    except ValueError:
        return None
    return visible_tasks(user).filter(pk=pk).first()


class TaskQueries(graphene.ObjectType):  # type: ignore[misc]
    """Root query fields: ``task(id)`` and ``tasks(status, name, limit, offset)``."""

    task = graphene.Field(
        TaskExecutionType,
        id=graphene.ID(required=True),
        description="One task by id (owner and staff only; otherwise NOT_FOUND).",
    )
    tasks = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(TaskExecutionType))),
        status=graphene.String(description="Only tasks with this status (pending, running, completed, ...)."),
        name=graphene.String(description="Only tasks with this name."),
        limit=graphene.Int(description="How many, newest first; capped by RAIL_TASKS_GRAPHQL['tasks_max_limit']."),
        offset=graphene.Int(default_value=0, description="How many to skip."),
        description="The viewer's tasks (all tasks for staff), newest first.",
    )

    @staticmethod
    def resolve_task(root: Any, info: Any, id: str) -> Any:
        found = visible_task(_viewer(info), id)
        if found is None:
            raise not_found()
        return found

    @staticmethod
    def resolve_tasks(
        root: Any,
        info: Any,
        status: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Any]:
        cap = int(graphql_setting("tasks_max_limit"))
        limit = int(graphql_setting("tasks_default_limit")) if limit is None else limit
        if limit < 0 or offset < 0:
            raise bad_request("limit and offset cannot be negative.")
        queryset = visible_tasks(_viewer(info))
        if status is not None:
            if status not in Status.values:
                raise bad_request(f"Unknown status {status!r}; use one of: {', '.join(Status.values)}.")
            queryset = queryset.filter(status=status)
        if name is not None:
            queryset = queryset.filter(name=name)
        return list(queryset.order_by("-created_at")[offset : offset + min(limit, cap)])


class TaskControlMutations(graphene.ObjectType):  # type: ignore[misc]
    """Root mutation fields: ``cancelTask(id)`` and ``retryTask(id)``."""

    cancel_task = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        id=graphene.ID(required=True),
        description="Cancel a task: at once when waiting, at its next progress update when running.",
    )
    retry_task = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        id=graphene.ID(required=True),
        description="Run a failed or cancelled task again from a fresh first attempt.",
    )

    @staticmethod
    def resolve_cancel_task(root: Any, info: Any, id: str) -> Any:
        found = visible_task(_viewer(info), id)
        if found is None:
            raise not_found()
        if found.is_finished:
            raise bad_request(f"Task already {found.status}; only pending, retrying or running tasks can be cancelled.")
        try:
            execution = rail_tasks.cancel_execution(found.pk)
        except ExecutionNotFound:
            raise not_found() from None
        execution.refresh_from_db()
        return execution

    @staticmethod
    def resolve_retry_task(root: Any, info: Any, id: str) -> Any:
        found = visible_task(_viewer(info), id)
        if found is None:
            raise not_found()
        if found.status not in (Status.FAILED, Status.CANCELLED):
            raise bad_request(f"Task is {found.status}; only failed or cancelled tasks can be retried.")
        try:
            execution = rail_tasks.retry_execution(found.pk)
        except ExecutionNotFound:
            raise not_found() from None
        execution.refresh_from_db()
        return execution
