"""The worked example plugin, pip-installed for real into a throwaway virtual environment.

``examples/plugins/rail-tasks-example-webhook`` is installed with pip into a new
venv that sees this environment's packages (Django, rail-tasks, the test
settings) but not the other way round. A subprocess of that venv then lists the
plugins and runs a task on the sync backend: the plugin must be discovered
through its ``rail_tasks`` entry point, and its hooks must fire.
"""

from __future__ import annotations

import json
import os
import site
import subprocess
import sys
from pathlib import Path

import pytest

from rail_tasks import Status, TaskExecution
from rail_tasks.plugins import iter_plugin_infos
from tests.process import REPO_ROOT, subprocess_env

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

EXAMPLE = REPO_ROOT / "examples" / "plugins" / "rail-tasks-example-webhook"


def run(*args: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv that also sees this one's site-packages, with the example plugin pip-installed into it."""
    root = tmp_path_factory.mktemp("example-plugin-venv")
    run(sys.executable, "-m", "venv", "--without-pip", root)
    python = root / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # Like --system-site-packages, but for *this* environment (whose editable installs use .pth files).
    parents = [p for p in [*site.getsitepackages(), site.getusersitepackages()] if Path(p).is_dir()]
    (purelib / "_rail_tasks_parent_env.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in parents)
    )
    run(python, "-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check", "-q", EXAMPLE)
    return python


def test_example_plugin_is_found_through_its_entry_point(venv_python: Path) -> None:
    listed = {
        p["name"]: p
        for p in json.loads(run(venv_python, "-m", "django", "rail_tasks_plugins", "--json", env=subprocess_env()))
    }
    assert listed["example_webhook"] == {
        "name": "example_webhook",
        "status": "loaded",
        "source": "entry point",
        "module": "rail_tasks_example_webhook.hooks",
        "dist": "rail-tasks-example-webhook",
        "version": "0.1.0",
        "hooks": ["rail_tasks_complete", "rail_tasks_notify"],
        "error": None,
    }
    # Installed in the throwaway venv only: this process does not see it.
    assert "example_webhook" not in {info.name for info in iter_plugin_infos()}


def test_example_plugin_hooks_fire_on_a_sync_task(venv_python: Path, tmp_path: Path) -> None:
    events_file = tmp_path / "webhook.jsonl"
    env = subprocess_env(RAIL_TASKS_EXAMPLE_WEBHOOK_FILE=str(events_file))
    script = "from tests.taskapp.tasks import add\nprint('ID', add.enqueue(2, 3).id)"
    out = run(venv_python, "-m", "django", "shell", "--no-imports", "-c", script, env=env)
    execution_id = next(line.split()[1] for line in out.splitlines() if line.startswith("ID "))

    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert [e["event"] for e in events] == ["enqueued", "started", "completed"]
    assert {e["id"] for e in events} == {execution_id}
    assert events[-1]["status"] == "completed"
    assert events[-1]["result"] == 5  # rail_tasks_complete handed the result to the notify payload
    assert {e["pid"] for e in events} != {os.getpid()}  # fired in the subprocess
    row = TaskExecution.objects.get(pk=execution_id)  # the same test database
    assert (row.status, row.result) == (Status.COMPLETED, 5)


def test_example_plugin_can_be_blocked_without_uninstalling(venv_python: Path, tmp_path: Path) -> None:
    events_file = tmp_path / "webhook.jsonl"
    env = subprocess_env(RAIL_TASKS_BLOCKED_PLUGINS="example_webhook", RAIL_TASKS_EXAMPLE_WEBHOOK_FILE=str(events_file))
    listed = {
        p["name"]: p for p in json.loads(run(venv_python, "-m", "django", "rail_tasks_plugins", "--json", env=env))
    }
    assert listed["example_webhook"]["status"] == "blocked"
    run(
        venv_python,
        "-m",
        "django",
        "shell",
        "--no-imports",
        "-c",
        "from tests.taskapp.tasks import add; add.enqueue(1, 1)",
        env=env,
    )
    assert not events_file.exists()
