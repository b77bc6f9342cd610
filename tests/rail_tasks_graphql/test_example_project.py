"""examples/graphql_project runs as documented: its script prints the seeds' flow end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process import REPO_ROOT
from tests.rail_tasks_graphql.settings_extra import REDIS_URL

pytestmark = pytest.mark.slow

EXAMPLE = REPO_ROOT / "examples" / "graphql_project"


def test_run_example_prints_progress_and_result(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "graphql_project.settings",
        "EXAMPLE_DB": str(tmp_path / "example.sqlite3"),
        "REDIS_URL": REDIS_URL,
    }
    done = subprocess.run(
        [sys.executable, "run_example.py", "--dataset-id", "seed-001", "--logs", str(tmp_path)],
        cwd=EXAMPLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.split(" -> ", 1) for line in done.stdout.splitlines() if " -> " in line]
    kinds = [kind for kind, _ in lines]
    assert kinds[0] == "mutation"
    assert kinds[-1] == "query"
    updates = [json.loads(body) for kind, body in lines if kind == "subscription"]
    running = [u["progress"] for u in updates if u["status"] == "running"]
    assert running[-1] == 100
    assert set(running) <= {0, 25, 50, 75, 100}  # a late subscriber starts from the current state
    assert updates[-1]["status"] == "completed"
    assert updates[-1]["result"]["ok"] is True
    final = json.loads(lines[-1][1])["data"]["task"]
    assert (final["name"], final["status"], final["progress"]) == ("generate_report", "completed", 100)
