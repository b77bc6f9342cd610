"""Test settings for rail-tasks-djangoq: an ORM cluster and a Redis cluster (Redis DB 11), names unique per run.

``django_q`` joins ``INSTALLED_APPS`` only in processes of a test run (pytest sets
``PYTEST_VERSION``, inherited by the qcluster subprocesses) or when
``RAIL_TASKS_TEST_DJANGOQ=1`` (benchmarks): ``tests/rail_tasks/test_walls.py``
checks that starting Django with the shared settings alone imports no engine library.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

REDIS_URL = os.environ.get("RAIL_TASKS_TEST_DJANGOQ_REDIS", "redis://127.0.0.1:6379/11")


def run_id() -> str:
    """This test run's id (shared with the qcluster subprocesses through the environment)."""
    return os.environ.setdefault("RAIL_TASKS_TEST_DJANGOQ_RUN", uuid.uuid4().hex[:8])


def orm_cluster() -> str:
    """The main cluster: Django-Q2's ORM broker on the test database."""
    return f"rt-{run_id()}-orm"


def redis_cluster() -> str:
    """An ``ALT_CLUSTERS`` cluster on Django-Q2's Redis broker."""
    return f"rt-{run_id()}-redis"


def _options(**extra: Any) -> dict[str, Any]:
    if os.environ.get("RAIL_BENCH"):  # benchmarks/djangoq.py: the backend's production defaults
        return extra
    return {"lease_seconds": 4, "heartbeat_seconds": 1, "reap_interval": 1, "resubmit_after": 6, **extra}


def apply(settings: dict[str, Any]) -> None:
    """Add ``django_q``, ``Q_CLUSTER`` and the aliases ``django_q`` (ORM) and ``django_q_redis``."""
    if not (os.environ.get("PYTEST_VERSION") or os.environ.get("RAIL_TASKS_TEST_DJANGOQ")):
        return
    settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], "django_q"]
    bench = bool(os.environ.get("RAIL_BENCH"))
    settings["Q_CLUSTER"] = {
        "name": orm_cluster(),
        "orm": "default",
        "workers": int(os.environ.get("RAIL_TASKS_TEST_DJANGOQ_WORKERS", 2)),
        # RAIL_TASKS_TEST_DJANGOQ_TIMEOUT: a cluster whose own timeout comes first (recovery tests).
        "timeout": int(os.environ.get("RAIL_TASKS_TEST_DJANGOQ_TIMEOUT", 60 if bench else 20)),
        "retry": 90 if bench else 30,
        "ack_failures": True,
        "max_attempts": 3,
        "poll": 0.2 if bench else 0.05,
        "catch_up": False,
        "label": "Django Q2",
        "ALT_CLUSTERS": {redis_cluster(): {"orm": None, "redis": REDIS_URL}},
    }
    settings["TASKS"] = {
        **settings["TASKS"],
        "django_q": {"BACKEND": "rail_tasks_djangoq.DjangoQBackend", "OPTIONS": _options()},
        "django_q_redis": {
            "BACKEND": "rail_tasks_djangoq.DjangoQBackend",
            "OPTIONS": _options(
                clusters={"default": redis_cluster()}, broker="tests.rail_tasks_djangoq.brokers.redis_broker"
            ),
        },
    }
    if os.environ.get("RAIL_TASKS_TEST_DJANGOQ_PROCESS_HOOKS"):
        plugins = [*settings["RAIL_TASKS"]["plugins"], "tests.rail_tasks_djangoq.process_hooks"]
        settings["RAIL_TASKS"] = {**settings["RAIL_TASKS"], "plugins": plugins}
    broker = os.environ.get("RAIL_BENCH_DJANGOQ_BROKER")
    if broker:  # benchmarks/djangoq.py: one broker per run, one cluster per variant (Q_CLUSTER_NAME)
        settings["Q_CLUSTER"] = {
            "name": f"bench-{run_id()}",
            "workers": 2,
            "timeout": 60,
            "retry": 90,
            "ack_failures": True,
            "max_attempts": 1,
            **({"orm": "default"} if broker == "orm" else {"redis": os.environ["RAIL_BENCH_REDIS"]}),
            "ALT_CLUSTERS": {},
        }
        del settings["TASKS"]["django_q_redis"]  # the benchmark sends through this process's own broker
    if bench:  # workers keep their database connection, as deployments do
        settings["DATABASES"]["default"]["CONN_MAX_AGE"] = None
        settings["DATABASES"]["default"]["CONN_HEALTH_CHECKS"] = True
        settings["RAIL_TASKS"] = {**settings["RAIL_TASKS"], "plugins": [], "blocked_plugins": ["graphql"]}
