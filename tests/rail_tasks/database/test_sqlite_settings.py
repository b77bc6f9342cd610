"""SQLite as users configure it: the worker takes the write lock itself, whatever ``transaction_mode`` says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process import REPO_ROOT, subprocess_env

pytestmark = pytest.mark.slow

ENQUEUE = """
from tests.taskapp import tasks
for i in range({count}):
    tasks.add.using(backend="database").enqueue(i, 1)
"""
COUNT = """
from rail_tasks import TaskExecution
print("COMPLETED", TaskExecution.objects.filter(status="completed").count())
"""


def _django(db: Path, options: dict[str, object], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = subprocess_env(
        DJANGO_SETTINGS_MODULE="tests.rail_tasks.database.startproject_sqlite",
        RAIL_TASKS_TEST_STARTPROJECT_DB=str(db),
        RAIL_TASKS_TEST_SQLITE_OPTIONS=json.dumps(options),
    )
    done = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.mark.parametrize(
    "options",
    [
        {},  # django-admin startproject
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
    ],
    ids=["startproject", "wal-without-transaction-mode"],
)
def test_two_worker_processes_drain_without_lock_errors(tmp_path: Path, options: dict[str, object]) -> None:
    db = tmp_path / "db.sqlite3"
    _django(db, options, "migrate", "-v", "0")
    _django(db, options, "shell", "--no-imports", "-c", ENQUEUE.format(count=300))
    worker = _django(
        db, options, "rail_tasks_worker", "--burst", "--concurrency", "2", "--poll-interval", "0.05", "-v", "2"
    )
    output = worker.stdout + worker.stderr
    assert "database is locked" not in output, output.count("database is locked")
    done = _django(db, options, "shell", "--no-imports", "-c", COUNT)
    assert "COMPLETED 300" in done.stdout
