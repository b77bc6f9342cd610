"""Benchmark settings: the test settings plus django-tasks-db, persistent connections, no test plugins.

``BENCH_DB=postgres|sqlite``; PostgreSQL database ``BENCH_PG_NAME`` (default ``rail_tasks_bench``),
SQLite file ``BENCH_SQLITE_PATH`` (default ``/tmp/rail-tasks-bench.sqlite3``).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("RAIL_TASKS_TEST_DB", os.environ.get("BENCH_DB", "sqlite"))

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, RAIL_TASKS, TASKS

INSTALLED_APPS = [*INSTALLED_APPS, "django_tasks_db", "benchmarks.benchapp"]
TASKS = {
    **TASKS,
    "default": {"BACKEND": "rail_tasks.backends.database.DatabaseBackend"},
    "dtdb": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}
# TASKS names the backends; no "backend" key (it would only trigger the W003 reminder).
RAIL_TASKS = {key: value for key, value in RAIL_TASKS.items() if key != "backend"}
RAIL_TASKS.update({"plugins": [], "autoload_plugins": False})

_db = DATABASES["default"]
if _db["ENGINE"].endswith("postgresql"):
    _db["NAME"] = os.environ.get("BENCH_PG_NAME", "rail_tasks_bench")
else:
    _db["NAME"] = os.environ.get("BENCH_SQLITE_PATH", "/tmp/rail-tasks-bench.sqlite3")
# Workers keep their connection between tasks (both queues run under the same setting).
_db["CONN_MAX_AGE"] = None if os.environ.get("BENCH_PERSISTENT", "1") == "1" else 0
# benchmarks/database.py --sqlite-settings: the SQLite OPTIONS under test (JSON), instead of the test settings'.
if "BENCH_SQLITE_OPTIONS" in os.environ and not _db["ENGINE"].endswith("postgresql"):
    _db["OPTIONS"] = json.loads(os.environ["BENCH_SQLITE_OPTIONS"])
