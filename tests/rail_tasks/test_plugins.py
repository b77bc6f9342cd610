"""Plugin loading: entry points, blocking, autoload, failures, duplicates and ``rail_tasks_plugins``.

Plugins here are real distributions: a ``*.dist-info`` directory with an
``entry_points.txt`` on ``sys.path``, found by ``importlib.metadata`` exactly
like a pip-installed package (``test_example_plugin.py`` pip-installs one).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import Tags, run_checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import override_settings

from rail_tasks import TaskExecution, hookimpl
from rail_tasks.plugins import get_plugin_manager, iter_plugin_infos, reset_plugin_manager
from tests.taskapp import tasks

Install = Callable[..., str]

GOOD_PLUGIN = """
from rail_tasks import hookimpl

SEEN = []

@hookimpl
def rail_tasks_complete(execution, result):
    SEEN.append(("complete", execution.name, result))

@hookimpl
def rail_tasks_notify(execution, event):
    SEEN.append(("notify", event))
"""


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """``install(dist, entry_point_name, source, version=...)``: a distribution with one ``rail_tasks`` entry point."""
    modules: list[str] = []
    monkeypatch.syspath_prepend(str(tmp_path))

    def make(dist: str, name: str, source: str, *, version: str = "1.2.3", module: str | None = None) -> str:
        module = module or dist.replace("-", "_") + "_hooks"
        (tmp_path / f"{module}.py").write_text(source)
        info = tmp_path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[rail_tasks]\n{name} = {module}\n")
        modules.append(module)
        reset_plugin_manager()
        return module

    try:
        yield make
    finally:
        for module in modules:
            sys.modules.pop(module, None)
        reset_plugin_manager()


def rail_settings(**changes: Any) -> dict[str, Any]:
    """The test settings' ``RAIL_TASKS`` with ``changes``."""
    return {**settings.RAIL_TASKS, **changes}


def infos_by_name() -> dict[str, Any]:
    return {info.name: info for info in iter_plugin_infos()}


@pytest.mark.django_db(transaction=True)
def test_entry_point_plugin_is_loaded_once_and_its_hooks_fire(install: Install) -> None:
    module = install("core5-good", "core5_good", GOOD_PLUGIN)
    info = infos_by_name()["core5_good"]
    assert (info.status, info.source, info.dist, info.version) == ("loaded", "entry point", "core5-good", "1.2.3")
    assert info.module == module
    assert info.hooks == ["rail_tasks_complete", "rail_tasks_notify"]
    assert get_plugin_manager() is get_plugin_manager()  # loaded once per process

    tasks.add.enqueue(1, 2)
    seen = sys.modules[module].SEEN
    assert ("complete", "add", 3) in seen
    assert [e for kind, *e in seen if kind == "notify"] == [["enqueued"], ["started"], ["completed"]]


def test_the_core_plugin_is_always_first_and_cannot_be_blocked(monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    monkeypatch.setenv("RAIL_TASKS_BLOCKED_PLUGINS", "core")
    reset_plugin_manager()
    first = iter_plugin_infos()[0]
    assert (first.name, first.source, first.dist, first.status) == ("core", "core", "rail-tasks", "loaded")
    assert first.hooks == ["rail_tasks_register_backends"]
    assert "cannot be blocked" in caplog.text


def test_blocked_by_setting(install: Install) -> None:
    install("core5-good", "core5_good", GOOD_PLUGIN)
    with override_settings(RAIL_TASKS=rail_settings(blocked_plugins=["core5_good"])):
        info = infos_by_name()["core5_good"]
        assert info.status == "blocked"
        assert not info.loaded
        assert get_plugin_manager().get_plugin("core5_good") is None
    assert infos_by_name()["core5_good"].status == "loaded"  # the setting change reloads plugins


def test_blocked_by_environment(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    install("core5-good", "core5_good", GOOD_PLUGIN)
    monkeypatch.setenv("RAIL_TASKS_BLOCKED_PLUGINS", " other , core5_good ")
    reset_plugin_manager()
    assert infos_by_name()["core5_good"].status == "blocked"
    assert get_plugin_manager().get_plugin("core5_good") is None


def test_setting_plugins_can_be_blocked_too() -> None:
    with override_settings(RAIL_TASKS=rail_settings(blocked_plugins=["rail_tasks.testing.recorder"])):
        assert infos_by_name()["rail_tasks.testing.recorder"].status == "blocked"


def test_autoload_off_by_setting(install: Install) -> None:
    install("core5-good", "core5_good", GOOD_PLUGIN)
    with override_settings(RAIL_TASKS=rail_settings(autoload_plugins=False)):
        names = infos_by_name()
        assert "core5_good" not in names
        assert "core" in names  # the core's own plugin is not an autoloaded one
        assert names["rail_tasks.testing.recorder"].loaded  # plugins named in settings still load


@pytest.mark.parametrize("value", ["1", "true", "yes"])
def test_autoload_off_by_environment(install: Install, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    install("core5-good", "core5_good", GOOD_PLUGIN)
    monkeypatch.setenv("RAIL_TASKS_DISABLE_PLUGIN_AUTOLOAD", value)
    reset_plugin_manager()
    assert "core5_good" not in infos_by_name()
    monkeypatch.setenv("RAIL_TASKS_DISABLE_PLUGIN_AUTOLOAD", "0")
    reset_plugin_manager()
    assert "core5_good" in infos_by_name()


@pytest.mark.django_db(transaction=True)
def test_plugin_failing_to_import_is_reported_and_skipped(install: Install, caplog: Any) -> None:
    install("core5-broken", "core5_broken", "import core5_engine_that_is_not_installed\n")
    install("core5-good", "core5_good", GOOD_PLUGIN)
    with caplog.at_level(logging.ERROR, logger="rail_tasks.plugins"):
        infos = infos_by_name()
    broken = infos["core5_broken"]
    assert broken.status == "failed"
    assert broken.error == "ModuleNotFoundError: No module named 'core5_engine_that_is_not_installed'"
    assert infos["core5_good"].loaded  # the others still load
    record = next(r for r in caplog.records if r.name == "rail_tasks.plugins")
    assert record.levelno == logging.ERROR
    assert "'core5_broken'" in record.getMessage()
    assert "skipped" in record.getMessage()

    warnings = [m for m in run_checks(tags=[Tags.compatibility]) if m.id == "rail_tasks.W001"]
    assert len(warnings) == 1
    assert "core5_broken" in warnings[0].msg
    assert "blocked_plugins" in (warnings[0].hint or "")

    assert tasks.add.enqueue(2, 2).return_value == 4  # the project keeps working


def test_plugin_with_an_unknown_hook_is_reported_and_skipped(install: Install) -> None:
    install(
        "core5-typo",
        "core5_typo",
        "from rail_tasks import hookimpl\n\n@hookimpl\ndef rail_tasks_compelte(execution): ...\n",
    )
    info = infos_by_name()["core5_typo"]
    assert info.status == "failed"
    assert "unknown hook 'rail_tasks_compelte'" in info.error
    assert "did you mean 'rail_tasks_complete'?" in info.error
    assert get_plugin_manager().get_plugin("core5_typo") is None
    (warning,) = [m for m in run_checks(tags=[Tags.compatibility]) if m.id == "rail_tasks.W001"]
    assert warning.msg.startswith("rail-tasks plugin 'core5_typo' (core5_typo_hooks) does not fit the hookspecs")
    assert "unknown hook 'rail_tasks_compelte'" in warning.msg
    assert "did you mean 'rail_tasks_complete'?" in warning.msg
    assert "Install its dependencies" not in (warning.hint or "")
    assert "hook" in (warning.hint or "")


def test_plugin_asking_for_an_argument_the_spec_lacks_is_skipped(install: Install) -> None:
    install(
        "core5-args", "core5_args", "from rail_tasks import hookimpl\n\n@hookimpl\ndef rail_tasks_start(job): ...\n"
    )
    info = infos_by_name()["core5_args"]
    assert info.status == "failed"
    assert "job" in info.error


def test_wrapper_hooks_are_refused(install: Install) -> None:
    source = "from rail_tasks import hookimpl\n\n@hookimpl(wrapper=True)\ndef rail_tasks_start(execution):\n    yield\n"
    install("core5-wrap", "core5_wrap", source)
    assert "rail_tasks_execution_context" in infos_by_name()["core5_wrap"].error


def test_two_plugins_with_one_name_are_an_error(plugin: Callable[[object, str], object]) -> None:
    class One:
        @hookimpl
        def rail_tasks_start(self) -> None: ...

    plugin(One(), "same-name")
    with pytest.raises(ImproperlyConfigured, match="Two rail-tasks plugins are named 'same-name'"):
        plugin(One(), "same-name")


def test_entry_point_and_setting_naming_the_same_module_load_it_once(install: Install) -> None:
    module = install("core5-good", "core5_good", GOOD_PLUGIN)
    with override_settings(RAIL_TASKS=rail_settings(plugins=[*settings.RAIL_TASKS["plugins"], module])):
        infos = infos_by_name()
        assert infos["core5_good"].loaded
        assert module not in infos
        impls = get_plugin_manager().hook.rail_tasks_notify.get_hookimpls()
        assert [i.plugin_name for i in impls].count("core5_good") == 1


def test_unrelated_setting_changes_keep_registered_plugins(plugin: Callable[[object, str], object]) -> None:
    class Kept:
        @hookimpl
        def rail_tasks_start(self) -> None: ...

    plugin(Kept(), "kept")
    with override_settings(RAIL_TASKS=rail_settings(max_retries=7)):
        assert get_plugin_manager().get_plugin("kept") is not None
    with override_settings(RAIL_TASKS=rail_settings(plugins=[])):
        assert get_plugin_manager().get_plugin("kept") is None  # plugin settings changed: reloaded


# ---------------------------------------------------------------------------
# manage.py rail_tasks_plugins
# ---------------------------------------------------------------------------


def run_command(*args: str) -> str:
    out = StringIO()
    call_command("rail_tasks_plugins", *args, stdout=out)
    return out.getvalue()


def test_command_lists_plugins_as_json(install: Install, monkeypatch: pytest.MonkeyPatch) -> None:
    install("core5-good", "core5_good", GOOD_PLUGIN, version="2.0.1")
    install("core5-broken", "core5_broken", "raise RuntimeError('needs a broker')\n")
    install("core5-blocked", "core5_blocked", GOOD_PLUGIN)
    monkeypatch.setenv("RAIL_TASKS_BLOCKED_PLUGINS", "core5_blocked")
    reset_plugin_manager()
    listed = {p["name"]: p for p in json.loads(run_command("--json"))}
    assert listed["core"] == {
        "name": "core",
        "status": "loaded",
        "source": "core",
        "module": "rail_tasks.hooks",
        "dist": "rail-tasks",
        "version": listed["core"]["version"],
        "hooks": ["rail_tasks_register_backends"],
        "error": None,
    }
    assert listed["core5_good"] == {
        "name": "core5_good",
        "status": "loaded",
        "source": "entry point",
        "module": "core5_good_hooks",
        "dist": "core5-good",
        "version": "2.0.1",
        "hooks": ["rail_tasks_complete", "rail_tasks_notify"],
        "error": None,
    }
    assert listed["core5_broken"]["status"] == "failed"
    assert listed["core5_broken"]["error"] == "RuntimeError: needs a broker"
    assert listed["core5_blocked"]["status"] == "blocked"
    assert listed["rail_tasks.testing.recorder"]["source"] == "setting"


def test_command_lists_plugins_as_text(install: Install) -> None:
    install("core5-good", "core5_good", GOOD_PLUGIN, version="2.0.1")
    install("core5-broken", "core5_broken", "raise RuntimeError('needs a broker')\n")
    lines = run_command().splitlines()
    assert "core5_good [entry point] core5-good 2.0.1" in lines
    at = lines.index("core5_good [entry point] core5-good 2.0.1")
    assert lines[at + 1 : at + 3] == ["    rail_tasks_complete", "    rail_tasks_notify"]
    assert "core5_broken [entry point] core5-broken 1.2.3: FAILED, skipped: RuntimeError: needs a broker" in lines


@pytest.mark.django_db(transaction=True)
def test_plugin_loaded_from_setting_runs(plugin: Any) -> None:
    """Plugins named in RAIL_TASKS["plugins"] load like entry points (the recorder is one)."""
    info = infos_by_name()["rail_tasks.testing.recorder"]
    assert info.loaded
    assert "rail_tasks_notify" in info.hooks
    assert TaskExecution.objects.get(pk=tasks.add.enqueue(1, 1).id).result == 2
