"""Test settings for rail-tasks-celery: a Redis alias ``celery`` and a RabbitMQ alias ``celery_amqp``.

Names are unique per test run (``RAIL_TASKS_TEST_CELERY_RUN``, set here once
and inherited by the worker subprocesses), so parallel runs never share queues.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

REDIS_URL = os.environ.get("RAIL_TASKS_TEST_CELERY_REDIS", "redis://127.0.0.1:6379/1")
AMQP_URL = os.environ.get("RAIL_TASKS_TEST_CELERY_AMQP", "amqp://guest:guest@127.0.0.1:5672//")


def run_id() -> str:
    """This test run's id (shared with the worker subprocesses through the environment)."""
    return os.environ.setdefault("RAIL_TASKS_TEST_CELERY_RUN", uuid.uuid4().hex[:8])


def _options(app: str) -> dict[str, Any]:
    if os.environ.get("RAIL_BENCH"):  # benchmarks/celery.py: the backend's production defaults
        return {"celery_app": f"tests.rail_tasks_celery.celery_app.{app}", "queue_prefix": f"rt-{run_id()}-"}
    return {
        "celery_app": f"tests.rail_tasks_celery.celery_app.{app}",
        "queue_prefix": f"rt-{run_id()}-",
        "time_limit_grace": 1,
        "lease_seconds": 4,
        "heartbeat_seconds": 1,
        "reap_interval": 1,
        "resubmit_after": 4,
    }


def apply(settings: dict[str, Any]) -> None:
    """Add the Celery aliases and the Celery app's settings (``CELERY_*``)."""
    settings["TASKS"] = {
        **settings["TASKS"],
        "celery": {"BACKEND": "rail_tasks_celery.CeleryBackend", "OPTIONS": _options("app")},
        "celery_amqp": {"BACKEND": "rail_tasks_celery.CeleryBackend", "OPTIONS": _options("amqp_app")},
    }
    settings["CELERY_BROKER_URL"] = REDIS_URL
    settings["CELERY_AMQP_BROKER_URL"] = AMQP_URL
    settings["CELERY_TASK_DEFAULT_QUEUE"] = f"rt-{run_id()}-default"
    settings["CELERY_WORKER_PREFETCH_MULTIPLIER"] = 1
    settings["CELERY_TASK_SERIALIZER"] = "json"
    settings["CELERY_ACCEPT_CONTENT"] = ["json"]
    settings["CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP"] = True
    # Celery closes Django's connections around every task unless told to reuse them (docs/celery.md).
    settings["CELERY_DB_REUSE_MAX"] = 1000
    if os.environ.get("RAIL_TASKS_TEST_CONN_MAX_AGE"):  # a worker subprocess that keeps its connection
        settings["DATABASES"]["default"]["CONN_MAX_AGE"] = float(os.environ["RAIL_TASKS_TEST_CONN_MAX_AGE"])
        settings["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] = True
    if os.environ.get("RAIL_BENCH"):  # workers keep their database connection, as deployments do
        settings["DATABASES"]["default"]["CONN_MAX_AGE"] = None
        settings["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] = True
        # What `pip install rail-tasks[celery]` users run: no GraphQL events, no test recorder.
        settings["RAIL_TASKS"] = {**settings["RAIL_TASKS"], "plugins": [], "blocked_plugins": ["graphql"]}
    results = os.environ.get("RAIL_TASKS_TEST_CELERY_RESULT_BACKEND")
    if results:  # benchmarks compare with plain Celery storing its results
        settings["CELERY_RESULT_BACKEND"] = results
    # Short, so the hop logic for long delays is exercised by a test.
    settings["CELERY_BROKER_TRANSPORT_OPTIONS"] = {"visibility_timeout": 20}
