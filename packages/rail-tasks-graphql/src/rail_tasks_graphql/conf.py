"""Settings of the GraphQL layer.

Two places are read, the first that has a key wins:

``RAIL_TASKS_GRAPHQL``
    this package's own block: ``backend``, ``tasks_default_limit``, ``tasks_max_limit``,
    ``channels_graphql_ws``, ``schema_settings``.
``RAIL_DJANGO_GRAPHQL["schema_settings"]``
    the seeds' block: ``mutation_extensions`` (dotted paths of ``graphene.ObjectType``
    classes merged into the mutation root), plus ``query_extensions``,
    ``subscription_extensions``, ``query``, ``mutation``, ``subscription`` and
    ``auto_camelcase`` (``False`` by default, as the seed says "snake_case by default").

Task behaviour (``emit_subscriptions``, ``subscription_channel``, retries...) stays in
the core's task settings, read through :data:`rail_tasks.task_settings`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings as django_settings

__all__ = ["DEFAULTS", "graphql_setting", "schema_setting"]

#: Keys of ``RAIL_TASKS_GRAPHQL`` and their defaults.
DEFAULTS: dict[str, Any] = {
    # TASKS alias that task mutations enqueue on when the decorator names none (None: the task's own).
    "backend": None,
    # `tasks(limit:)` when the client gives none, and the cap applied to any limit.
    "tasks_default_limit": 20,
    "tasks_max_limit": 100,
    # Also broadcast task events to the channels-graphql-ws subscriptions of rail_tasks_graphql.cgws.
    "channels_graphql_ws": False,
}

_SCHEMA_DEFAULTS: dict[str, Any] = {
    "query": None,
    "mutation": None,
    "subscription": None,
    "query_extensions": [],
    "mutation_extensions": [],
    "subscription_extensions": [],
    "auto_camelcase": False,
}


def _block(name: str) -> Mapping[str, Any]:
    value = getattr(django_settings, name, None)
    return value if isinstance(value, Mapping) else {}


def graphql_setting(key: str) -> Any:
    """The value of ``RAIL_TASKS_GRAPHQL[key]``, else its default."""
    if key not in DEFAULTS:
        raise KeyError(f"rail-tasks-graphql has no setting {key!r}")
    return _block("RAIL_TASKS_GRAPHQL").get(key, DEFAULTS[key])


def schema_setting(key: str) -> Any:
    """A schema setting: ``RAIL_TASKS_GRAPHQL["schema_settings"]``, then the seed's block, then the default."""
    if key not in _SCHEMA_DEFAULTS:
        raise KeyError(f"rail-tasks-graphql has no schema setting {key!r}")
    for block in (
        _block("RAIL_TASKS_GRAPHQL").get("schema_settings") or {},
        _block("RAIL_DJANGO_GRAPHQL").get("schema_settings") or {},
    ):
        if isinstance(block, Mapping) and key in block:
            return block[key]
    return _SCHEMA_DEFAULTS[key]
