"""The README's demo runs end to end: a real worker process, live progress, results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_reports_to_completion(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    env["COLUMNS"] = "160"
    done = subprocess.run(
        [sys.executable, "examples/demo/run_demo.py", "--reports", "3", "--seconds", "1.5", "--timeout", "90"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count("completed") >= 6  # three bars and three result rows
    for n in (1, 2, 3):
        assert f"'dataset_id': 'dataset-{n}'" in out
    assert "worker exited with code 0" in out


@pytest.mark.slow
def test_demo_prints_the_trace_tree_of_its_reports(tmp_path: Path) -> None:
    """``--trace``: one trace per report, from the demo's span through ``send`` to the worker's attempt."""
    pytest.importorskip("rail_tasks_otel")
    pytest.importorskip("opentelemetry.sdk")
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["DEMO_DB"] = str(tmp_path / "demo.sqlite3")
    env["COLUMNS"] = "160"
    done = subprocess.run(
        [sys.executable, "examples/demo/run_demo.py", "--reports", "2", "--seconds", "1", "--trace"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tree = done.stdout.split("Traces", 1)[1]
    assert tree.count("\ntrace ") == 2
    for n in (1, 2):
        assert f"└── report {n} requested  INTERNAL" in tree
    assert tree.count("    └── send default  PRODUCER") == 2
    assert tree.count("        └── process default  CONSUMER") == 2
    assert tree.count("rail_tasks.outcome=completed") == 2
    assert "· rail_tasks.progress  rail_tasks.progress=100" in tree
