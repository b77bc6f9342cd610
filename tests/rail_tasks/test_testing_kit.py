"""The test kit itself: plugin registration, the recorder, waiting helpers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import rail_tasks
from rail_tasks.plugins import get_plugin_manager
from rail_tasks.testing import read_events, record_event, registered_plugin, temporary_plugins, wait_for_status
from rail_tasks.testing import tasks as kit_tasks
from rail_tasks.testing.recorder import EVENTS_ENV
from tests.process import REPO_ROOT, subprocess_env


class Seen:
    def __init__(self) -> None:
        self.completed: list[Any] = []

    @rail_tasks.hookimpl
    def rail_tasks_complete(self, execution: Any, result: Any) -> None:
        self.completed.append(result)


@pytest.mark.django_db(transaction=True)
def test_registered_plugin_sees_hooks_and_is_removed() -> None:
    seen = Seen()
    with registered_plugin(seen, "seen") as registered:
        assert registered is seen
        assert get_plugin_manager().get_plugin("seen") is seen
        kit_tasks.add.enqueue(1, 2)
    assert seen.completed == [{"sum": 3, "args": [1, 2]}]
    assert get_plugin_manager().get_plugin("seen") is None
    assert "seen" not in get_plugin_manager().infos


def test_temporary_plugins_unregister_after_an_error() -> None:
    def failing_test() -> None:
        with temporary_plugins() as register:
            register(Seen(), "first")
            register(Seen(), "second")
            raise RuntimeError("test failed midway")

    with pytest.raises(RuntimeError):
        failing_test()
    pm = get_plugin_manager()
    assert pm.get_plugin("first") is None
    assert pm.get_plugin("second") is None


def test_plugin_fixture_uses_the_kit(plugin: Any) -> None:
    seen = plugin(Seen(), "via-fixture")
    assert get_plugin_manager().get_plugin("via-fixture") is seen
    assert get_plugin_manager().infos["via-fixture"].source == "test"


def test_recorder_is_off_without_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(EVENTS_ENV, raising=False)
    record_event("x", "1")
    assert read_events() == []
    assert read_events(path=tmp_path / "missing.jsonl") == []


def test_recorder_lines_from_many_processes_never_interleave(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(EVENTS_ENV, str(path))
    script = (
        "import sys\n"
        "from rail_tasks.testing.recorder import record_event\n"
        "for i in range(200): record_event('burst', sys.argv[1], 'running', i=i, pad='x' * 3000)\n"
    )
    env = subprocess_env(**{EVENTS_ENV: str(path)})
    children = [
        subprocess.Popen(
            [sys.executable, "-c", f"import django; django.setup()\n{script}", str(n)], env=env, cwd=REPO_ROOT
        )
        for n in range(4)
    ]
    assert [child.wait(60) for child in children] == [0, 0, 0, 0]
    lines = path.read_text().splitlines()
    assert len(lines) == 800
    assert all(json.loads(line)["event"] == "burst" for line in lines)  # every line is whole JSON
    for n in range(4):
        mine = read_events(str(n))
        assert [e["i"] for e in mine] == list(range(200))
        assert len({e["pid"] for e in mine}) == 1


@pytest.mark.django_db(transaction=True)
def test_recorder_records_hooks_and_signals_in_process(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events.jsonl"))
    result = kit_tasks.report_progress.enqueue(2)
    names = [e["event"] for e in read_events(result.id)]
    assert names[:3] == ["hook:enqueue", "hook:notify", "signal:task_enqueued"]
    assert "hook:progress" in names
    assert names[-2:] == ["signal:task_finished", "context:exit"]  # the outcome is recorded inside the context
    assert any(e["event"] == "hook:enqueue_metadata" for e in read_events())


@pytest.mark.django_db(transaction=True)
def test_wait_for_status_fails_clearly() -> None:
    with pytest.raises(pytest.fail.Exception, match="does not exist"):
        wait_for_status("00000000-0000-0000-0000-000000000000", "completed", timeout=0.1)
    result = kit_tasks.add.enqueue(1, 1)
    with pytest.raises(pytest.fail.Exception, match=r"still 'completed' after 0.1s; expected failed or running"):
        wait_for_status(result.id, ["running", "failed"], timeout=0.1)
    assert wait_for_status(result.id, "completed").result == {"sum": 2, "args": [1, 1]}


def test_read_result_usage() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rail_tasks.testing.read_result"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "usage" in done.stderr
