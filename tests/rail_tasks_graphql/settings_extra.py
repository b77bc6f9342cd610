"""Test settings for rail-tasks-graphql: graphene, Channels on Redis DB 3, the example app."""

from __future__ import annotations

import os
from typing import Any

#: Redis database 3 belongs to these tests (other suites use other numbers).
REDIS_URL = os.environ.get("RAIL_TASKS_TEST_GRAPHQL_REDIS", "redis://127.0.0.1:6379/3")


def apply(settings: dict[str, Any]) -> None:
    """Add graphene-django, Channels (+ daphne) and the example project's app."""
    apps = list(settings["INSTALLED_APPS"])
    apps.insert(0, "daphne")
    apps += ["graphene_django", "channels", "tests.rail_tasks_graphql.example"]
    settings["INSTALLED_APPS"] = apps
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
