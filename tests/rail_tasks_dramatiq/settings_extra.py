"""Test settings for rail-tasks-dramatiq: a Redis alias ``dramatiq`` and a RabbitMQ alias ``dramatiq_amqp``.

Queue names and the Redis namespace are unique per test run
(``RAIL_TASKS_TEST_DRAMATIQ_RUN``, set here once and inherited by the worker
subprocesses), so parallel runs never share queues.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

REDIS_URL = os.environ.get("RAIL_TASKS_TEST_DRAMATIQ_REDIS", "redis://127.0.0.1:6379/9")
AMQP_URL = os.environ.get("RAIL_TASKS_TEST_DRAMATIQ_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")


def run_id() -> str:
    """This test run's id (shared with the worker subprocesses through the environment)."""
    return os.environ.setdefault("RAIL_TASKS_TEST_DRAMATIQ_RUN", uuid.uuid4().hex[:8])


def _options(broker: str, **extra: Any) -> dict[str, Any]:
    options = {"dramatiq_broker": f"tests.rail_tasks_dramatiq.brokers.{broker}", "queue_prefix": f"rt-{run_id()}-"}
    if os.environ.get("RAIL_BENCH"):  # benchmarks/dramatiq.py: the backend's production defaults
        return options
    return {**options, "lease_seconds": 4, "heartbeat_seconds": 1, "reap_interval": 1, "resubmit_after": 4, **extra}


def apply(settings: dict[str, Any]) -> None:
    """Add the Dramatiq aliases."""
    queues = ["default", "orders", "rail"]
    settings["TASKS"] = {
        **settings["TASKS"],
        "dramatiq": {"BACKEND": "rail_tasks_dramatiq.DramatiqBackend", "QUEUES": queues, "OPTIONS": _options("redis")},
        # A short max_delay, so the hops of long delays are exercised by a test.
        "dramatiq_amqp": {
            "BACKEND": "rail_tasks_dramatiq.DramatiqBackend",
            "QUEUES": queues,
            "OPTIONS": _options("rabbitmq", max_delay=3),
        },
    }
    # Records rail_tasks_worker_start / _stop to RAIL_TASKS_TEST_DRAMATIQ_PROCESS_EVENTS (when set).
    settings["RAIL_TASKS"] = {
        **settings["RAIL_TASKS"],
        "plugins": [*settings["RAIL_TASKS"].get("plugins", []), "tests.rail_tasks_dramatiq.process_hooks"],
    }
    if os.environ.get("RAIL_TASKS_TEST_CONN_MAX_AGE"):  # a worker subprocess that keeps its connection
        settings["DATABASES"]["default"]["CONN_MAX_AGE"] = float(os.environ["RAIL_TASKS_TEST_CONN_MAX_AGE"])
        settings["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] = True
    if os.environ.get("RAIL_BENCH"):  # workers keep their database connection, as deployments do
        settings["DATABASES"]["default"]["CONN_MAX_AGE"] = None
        settings["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] = True
        settings["RAIL_TASKS"] = {**settings["RAIL_TASKS"], "plugins": [], "blocked_plugins": ["graphql"]}
