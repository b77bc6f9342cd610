"""Test settings for rail-tasks-graphql: graphene, Channels on Redis DB 3, the example app."""

from __future__ import annotations

import os
from typing import Any

#: Redis database 3 belongs to these tests (other suites use other numbers).
REDIS_URL = os.environ.get("RAIL_TASKS_TEST_GRAPHQL_REDIS", "redis://127.0.0.1:6379/3")


def apply(settings: dict[str, Any]) -> None:
    """Add the example project's app, its ASGI application, Channels on Redis and the graphene schema.

    A real project also lists ``daphne``, ``graphene_django`` and ``channels`` in
    ``INSTALLED_APPS`` (docs/graphql.md). The shared test settings leave them out: none of
    them is needed to serve GraphQL or websockets (the tests start daphne by its command),
    and ``tests/rail_tasks/test_walls.py`` checks that starting Django with these settings
    imports no engine library.
    """
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], "tests.rail_tasks_graphql.example"]
    settings["ASGI_APPLICATION"] = "tests.rail_tasks_graphql.example.asgi.application"
    settings["CHANNEL_LAYERS"] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py >= 8 reads with a 5 s socket timeout by default, shorter than the blocking
            # pops channels-redis waits in: switch it off, or idle websockets die after 5 s.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},
        }
    }
    settings["GRAPHENE"] = {"SCHEMA": "tests.rail_tasks_graphql.example.schema.schema"}
