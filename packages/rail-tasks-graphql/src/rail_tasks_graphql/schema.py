"""Merge the task fields and the project's own types into one graphene schema.

Two ways, pick one:

Plain graphene composition::

    class Query(TaskQueries, MyQuery, graphene.ObjectType): ...
    class Mutation(TaskControlMutations, TaskMutations, graphene.ObjectType): ...
    class Subscription(TaskSubscriptions, graphene.ObjectType): ...
    schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)

Settings (seed 001), with ``GRAPHENE = {"SCHEMA": "rail_tasks_graphql.schema.schema"}``::

    RAIL_DJANGO_GRAPHQL = {
        "schema_settings": {
            "query": "myapp.schema.Query",                         # optional
            "mutation_extensions": ["myapp.graphql.TaskMutations"],
            "auto_camelcase": True,                                # snake_case by default
        },
    }

``rail_tasks_graphql.schema.schema`` is built from the settings on first access.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import graphene
from django.utils.module_loading import import_string

from rail_tasks_graphql.conf import schema_setting
from rail_tasks_graphql.queries import TaskControlMutations, TaskQueries
from rail_tasks_graphql.subscriptions import TaskSubscriptions

__all__ = ["build_schema", "get_schema", "reset_schema"]


def _load(item: Any) -> Any:
    return import_string(item) if isinstance(item, str) else item


def _root_type(name: str, parts: Iterable[Any]) -> type[graphene.ObjectType]:
    bases: list[Any] = []
    for part in parts:
        if part is None:
            continue
        cls = _load(part)
        if not (isinstance(cls, type) and issubclass(cls, graphene.ObjectType)):
            raise TypeError(f"{part!r} is not a graphene.ObjectType class; it cannot extend the {name} type.")
        if cls not in bases:
            bases.append(cls)
    return type(name, (*bases, graphene.ObjectType), {"__module__": __name__})


def build_schema(
    query: Any = None,
    mutation: Any = None,
    subscription: Any = None,
    *,
    query_extensions: Iterable[Any] = (),
    mutation_extensions: Iterable[Any] = (),
    subscription_extensions: Iterable[Any] = (),
    auto_camelcase: bool = False,
    **schema_kwargs: Any,
) -> graphene.Schema:
    """A ``graphene.Schema`` with the project's types plus every task field.

    ``query``, ``mutation``, ``subscription`` and the ``*_extensions`` are
    ``graphene.ObjectType`` classes or their dotted paths; their fields are merged
    with :class:`TaskQueries`, :class:`TaskControlMutations` and :class:`TaskSubscriptions`
    (``task_mutation`` fields come in through the ``mutation_extensions``).
    """
    return graphene.Schema(
        query=_root_type("Query", [query, *query_extensions, TaskQueries]),
        mutation=_root_type("Mutation", [mutation, *mutation_extensions, TaskControlMutations]),
        subscription=_root_type("Subscription", [subscription, *subscription_extensions, TaskSubscriptions]),
        auto_camelcase=auto_camelcase,
        **schema_kwargs,
    )


def schema_from_settings() -> graphene.Schema:
    """The schema ``RAIL_DJANGO_GRAPHQL["schema_settings"]`` (or ``RAIL_TASKS_GRAPHQL``) describes."""
    return build_schema(
        query=schema_setting("query"),
        mutation=schema_setting("mutation"),
        subscription=schema_setting("subscription"),
        query_extensions=schema_setting("query_extensions"),
        mutation_extensions=schema_setting("mutation_extensions"),
        subscription_extensions=schema_setting("subscription_extensions"),
        auto_camelcase=bool(schema_setting("auto_camelcase")),
    )


_lock = threading.Lock()
_schema: graphene.Schema | None = None


def get_schema() -> graphene.Schema:
    """The settings-built schema, built once."""
    global _schema
    if _schema is None:
        with _lock:
            if _schema is None:
                _schema = schema_from_settings()
    return _schema


def reset_schema() -> None:
    """Forget the settings-built schema (tests that change the schema settings)."""
    global _schema
    with _lock:
        _schema = None


def __getattr__(name: str) -> Any:
    if name == "schema":
        return get_schema()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
