"""Helpers for tests that start real subprocesses (workers) against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that must use the same (test) database as this one."""
    env = os.environ.copy()
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "postgresql":
        env["RAIL_TASKS_TEST_DB"] = "postgres"
        env["RAIL_TASKS_TEST_PG_NAME"] = name
    else:
        env["RAIL_TASKS_TEST_DB"] = "sqlite"
        env["RAIL_TASKS_TEST_SQLITE_DB"] = name
    env.update(extra)
    return env


def start_django_command(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``django-admin <args>`` with the test settings and database."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        env=env or subprocess_env(),
        cwd=REPO_ROOT,
        **popen,
    )
