"""``task(id)`` and ``tasks(...)`` queries, ``cancelTask(id)`` and ``retryTask(id)`` mutations.

Compose them into your schema::

    class Query(TaskQueries, graphene.ObjectType): ...
    class Mutation(TaskControlMutations, graphene.ObjectType): ...

Who sees and does what is :mod:`rail_tasks.permissions`, as on every surface: the
owner (the user who enqueued) and viewers with ``rail_tasks.view_taskexecution``;
cancelling and retrying others' tasks need their own permissions; ``is_staff``
alone grants nothing. A task of someone else and a missing id give the same
``NOT_FOUND`` error; anonymous viewers see no task at all; lists never hold other
users' tasks unless the viewer has the view permission, and never load the large
columns (arguments, and results, errors and tracebacks nobody asked for).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import graphene
from django.db.models import QuerySet
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

import rail_tasks
from rail_tasks import ExecutionNotFound, Status, TaskExecution
from rail_tasks.permissions import may_cancel, may_retry
from rail_tasks_graphql.conf import graphql_setting
from rail_tasks_graphql.errors import bad_request, forbidden, guarded, not_found
from rail_tasks_graphql.types import TaskExecutionType

__all__ = ["TaskControlMutations", "TaskQueries", "visible_task", "visible_tasks"]

#: Columns a list loads only when the query selects the field that shows them.
_ON_DEMAND = {"result": ("result",), "error": ("error",), "traceback": ("traceback",)}
#: Columns no GraphQL field shows.
_NEVER_SHOWN = ("args", "kwargs", "metadata")
#: Longest ``name`` filter (the column's length).
_MAX_NAME = 255


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


def _selected_names(info: Any) -> set[str]:
    """Names of the fields selected under this field (fragments followed, each once)."""
    names: set[str] = set()
    seen: set[str] = set()

    def walk(selection_set: SelectionSetNode | None) -> None:
        if selection_set is None:
            return
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                names.add(node.name.value)
            elif isinstance(node, InlineFragmentNode):
                walk(node.selection_set)
            elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
                seen.add(node.name.value)
                fragment = info.fragments.get(node.name.value)
                if fragment is not None:
                    walk(fragment.selection_set)

    for field_node in info.field_nodes:
        walk(field_node.selection_set)
    return names


def _deferred(selected: Iterable[str]) -> list[str]:
    wanted = set(selected)
    columns = list(_NEVER_SHOWN)
    for field_name, field_columns in _ON_DEMAND.items():
        if field_name not in wanted:
            columns.extend(field_columns)
    return columns


def _name_filter(name: str) -> str:
    if "\x00" in name:
        raise bad_request("name cannot contain NUL characters.")
    if len(name) > _MAX_NAME:
        raise bad_request(f"name is longer than {_MAX_NAME} characters.")
    return name


class TaskQueries(graphene.ObjectType):  # type: ignore[misc]
    """Root query fields: ``task(id)`` and ``tasks(status, name, limit, offset)``."""

    task = graphene.Field(
        TaskExecutionType,
        id=graphene.ID(required=True),
        description="One task by id (its owner, or rail_tasks.view_taskexecution; otherwise NOT_FOUND).",
    )
    tasks = graphene.Field(
        graphene.NonNull(graphene.List(graphene.NonNull(TaskExecutionType))),
        status=graphene.String(description="Only tasks with this status (pending, running, completed, ...)."),
        name=graphene.String(description="Only tasks with this name."),
        limit=graphene.Int(description="How many, newest first; capped by RAIL_TASKS_GRAPHQL['tasks_max_limit']."),
        offset=graphene.Int(default_value=0, description="How many to skip."),
        description="The viewer's tasks (every task with rail_tasks.view_taskexecution), newest first.",
    )

    @staticmethod
    @guarded
    def resolve_task(root: Any, info: Any, id: str) -> Any:
        found = visible_task(_viewer(info), id)
        if found is None:
            raise not_found()
        return found

    @staticmethod
    @guarded
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
            queryset = queryset.filter(name=_name_filter(name))
        queryset = queryset.defer(*_deferred(_selected_names(info)))
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
        description="Run a failed task again from a fresh first attempt (a cancelled one: operators only).",
    )

    @staticmethod
    @guarded
    def resolve_cancel_task(root: Any, info: Any, id: str) -> Any:
        user = _viewer(info)
        found = visible_task(user, id)
        if found is None:
            raise not_found()
        if not may_cancel(user, found):
            raise forbidden("You may not cancel this task (rail_tasks.cancel_taskexecution).")
        if found.is_finished:
            raise bad_request(f"Task already {found.status}; only pending, retrying or running tasks can be cancelled.")
        try:
            execution = rail_tasks.cancel_execution(found.pk)
        except ExecutionNotFound:
            raise not_found() from None
        execution.refresh_from_db()
        return execution

    @staticmethod
    @guarded
    def resolve_retry_task(root: Any, info: Any, id: str) -> Any:
        user = _viewer(info)
        found = visible_task(user, id)
        if found is None:
            raise not_found()
        if found.status not in (Status.FAILED, Status.CANCELLED):
            raise bad_request(f"Task is {found.status}; only failed or cancelled tasks can be retried.")
        if not may_retry(user, found):
            raise forbidden(
                "You may not retry this task: owners retry their failed tasks; a cancelled task, or "
                "someone else's, needs rail_tasks.retry_taskexecution."
            )
        try:
            execution = rail_tasks.retry_execution(found.pk)
        except ExecutionNotFound:
            raise not_found() from None
        execution.refresh_from_db()
        return execution
