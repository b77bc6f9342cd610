"""rail-tasks-graphql: task mutations, task queries and live subscriptions for graphene-django.

The public API is this module's ``__all__``. Names are imported lazily, so that
importing the package (its ``hooks`` plugin is loaded while Django starts) does not
import models before the app registry is ready.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from rail_tasks_graphql.__about__ import __version__

if TYPE_CHECKING:
    from rail_tasks_graphql.consumers import GraphQLTransportWSConsumer, WebSocketContext
    from rail_tasks_graphql.events import TaskSnapshot
    from rail_tasks_graphql.mutation import TaskInfo, TaskMutationContext, TaskMutationField, task_mutation
    from rail_tasks_graphql.queries import TaskControlMutations, TaskQueries
    from rail_tasks_graphql.schema import build_schema
    from rail_tasks_graphql.subscriptions import TaskSubscriptions
    from rail_tasks_graphql.types import JSON, TaskExecutionType, TaskMutationPayload

__all__ = [
    "JSON",
    "GraphQLTransportWSConsumer",
    "TaskControlMutations",
    "TaskExecutionType",
    "TaskInfo",
    "TaskMutationContext",
    "TaskMutationField",
    "TaskMutationPayload",
    "TaskQueries",
    "TaskSnapshot",
    "TaskSubscriptions",
    "WebSocketContext",
    "__version__",
    "build_schema",
    "task_mutation",
]

_WHERE = {
    "JSON": "types",
    "TaskExecutionType": "types",
    "TaskMutationPayload": "types",
    "TaskInfo": "mutation",
    "TaskMutationContext": "mutation",
    "TaskMutationField": "mutation",
    "task_mutation": "mutation",
    "TaskControlMutations": "queries",
    "TaskQueries": "queries",
    "TaskSubscriptions": "subscriptions",
    "TaskSnapshot": "events",
    "build_schema": "schema",
    "GraphQLTransportWSConsumer": "consumers",
    "WebSocketContext": "consumers",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rail_tasks_graphql' has no attribute {name!r}")
    return getattr(import_module(f"rail_tasks_graphql.{module}"), name)
