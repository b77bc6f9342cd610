"""Settings: both spellings, defaults, ``override_settings``, and every system check id."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import CheckMessage, Tags, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from rail_tasks import TaskExecution, TasksDisabled, hookimpl, task_settings
from rail_tasks.apps import derive_tasks_setting
from rail_tasks.conf import SETTING_SPECS, raw_task_settings
from tests.process import REPO_ROOT, subprocess_env
from tests.taskapp import tasks

#: Seed 001, "Basic Configuration", copied verbatim.
SEED_BLOCK: dict[str, Any] = {
    "task_settings": {
        # Enable background tasks
        "enabled": True,
        # Backend: thread, sync, celery, dramatiq, django_q
        "backend": "thread",
        # Default queue
        "default_queue": "default",
        # Result retention (seconds)
        "result_ttl_seconds": 86400,  # 24 hours
        # Retry configuration
        "max_retries": 3,
        "retry_backoff": True,
        # Database tracking
        "track_in_database": True,
        # Emit subscription events
        "emit_subscriptions": True,
    },
}


def rail_settings(**changes: Any) -> dict[str, Any]:
    return {**settings.RAIL_TASKS, **changes}


def rail_messages() -> list[CheckMessage]:
    # rail-tasks' checks are tagged "compatibility"; model checks would need the database.
    return [m for m in run_checks(tags=[Tags.compatibility]) if str(m.id).startswith("rail_tasks.")]


def ids(messages: list[CheckMessage] | None = None) -> list[str]:
    return sorted(str(m.id) for m in (rail_messages() if messages is None else messages))


def only(check_id: str) -> CheckMessage:
    found = [m for m in rail_messages() if m.id == check_id]
    assert len(found) == 1, [str(m) for m in rail_messages()]
    return found[0]


# ---------------------------------------------------------------------------
# Reading settings
# ---------------------------------------------------------------------------


def test_defaults_apply_for_missing_keys() -> None:
    with override_settings(RAIL_TASKS={}):
        assert task_settings.as_dict() == {name: spec.default for name, spec in SETTING_SPECS.items()}
        assert task_settings.backend == "database"


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no setting 'max_retrys'"):
        _ = task_settings.max_retrys


def test_override_settings_is_seen_at_once() -> None:
    assert task_settings.max_retries == 0
    with override_settings(RAIL_TASKS=rail_settings(max_retries=5, default_queue="reports")):
        assert task_settings.max_retries == 5
        assert task_settings.default_queue == "reports"
    assert task_settings.max_retries == 0


@pytest.mark.django_db(transaction=True)
def test_override_settings_reaches_new_executions() -> None:
    with override_settings(RAIL_TASKS=rail_settings(max_retries=4, retry_delay=7)):
        row = TaskExecution.objects.get(pk=tasks.add.enqueue(1, 1).id)
    assert (row.max_retries, row.retry_delay) == (4, 7.0)


@pytest.mark.django_db(transaction=True)
def test_enabled_false_refuses_enqueue() -> None:
    with override_settings(RAIL_TASKS=rail_settings(enabled=False)), pytest.raises(TasksDisabled):
        tasks.add.enqueue(1, 1)
    assert not TaskExecution.objects.exists()


def test_seed_form_is_read_unchanged() -> None:
    with override_settings(RAIL_TASKS=None, RAIL_DJANGO_GRAPHQL=SEED_BLOCK):
        assert raw_task_settings() == ('RAIL_DJANGO_GRAPHQL["task_settings"]', SEED_BLOCK["task_settings"])
        assert (task_settings.backend, task_settings.max_retries, task_settings.result_ttl_seconds) == (
            "thread",
            3,
            86400,
        )
        assert task_settings.max_workers == 4  # not in the block: the default
        assert derive_tasks_setting() == {
            "default": {"BACKEND": "rail_tasks.backends.thread.ThreadBackend", "QUEUES": []}
        }
        # The block is valid: the only message is that this test project also defines TASKS.
        assert ids() == ["rail_tasks.W003"]


def test_seed_form_names_its_setting_in_messages() -> None:
    block = {"task_settings": {**SEED_BLOCK["task_settings"], "max_retires": 3}}
    with override_settings(RAIL_TASKS=None, RAIL_DJANGO_GRAPHQL=block):
        message = only("rail_tasks.E002")
    assert message.msg == "RAIL_DJANGO_GRAPHQL[\"task_settings\"] has an unknown key 'max_retires'."


@pytest.mark.parametrize(
    ("backend", "path"),
    [
        ("sync", "rail_tasks.backends.sync.SyncBackend"),
        ("thread", "rail_tasks.backends.thread.ThreadBackend"),
        ("database", "rail_tasks.backends.database.DatabaseBackend"),
        ("myproject.backends.Custom", "myproject.backends.Custom"),
    ],
)
def test_backend_names_derive_tasks(backend: str, path: str) -> None:
    with override_settings(RAIL_TASKS=rail_settings(backend=backend, queues=["default", "orders"])):
        assert derive_tasks_setting() == {"default": {"BACKEND": path, "QUEUES": ["default", "orders"]}}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_seed_settings_without_tasks_run_seed_tasks_on_thread_then_sync() -> None:
    """A project with only the seed's block (no TASKS): the derived backends run seed 001's examples."""
    script = """
import json, time
from django.conf import settings
from django.tasks import task_backends
from django.test import override_settings
from rail_tasks import TaskExecution
from tests.taskapp.tasks import generate_report

def run():
    result = generate_report.enqueue("seed")
    deadline = time.monotonic() + 20
    while not result.is_finished and time.monotonic() < deadline:
        time.sleep(0.05)
        result.refresh()
    row = TaskExecution.objects.get(pk=result.id)
    return {
            "backend": type(task_backends["default"]).__name__,
            "value": result.return_value, "status": row.status, "progress": row.progress,
            "message": row.progress_message, "max_retries": row.max_retries}

out = {"tasks": settings.TASKS, "thread": run()}
with override_settings(RAIL_DJANGO_GRAPHQL={"task_settings": {"backend": "sync"}}):  # seed 001, "Sync Backend"
    out["sync_tasks"] = settings.TASKS
    out["sync"] = run()
print("JSON", json.dumps(out))
"""
    env = subprocess_env(DJANGO_SETTINGS_MODULE="tests.rail_tasks.seed_settings")
    done = subprocess.run(
        [sys.executable, "-m", "django", "shell", "--no-imports", "-c", script],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(next(line[5:] for line in done.stdout.splitlines() if line.startswith("JSON ")))
    assert out["tasks"] == {"default": {"BACKEND": "rail_tasks.backends.thread.ThreadBackend", "QUEUES": []}}
    assert out["sync_tasks"] == {"default": {"BACKEND": "rail_tasks.backends.sync.SyncBackend", "QUEUES": []}}
    expected = {"ok": True, "dataset_id": "seed", "file_path": "/reports/seed.pdf"}
    for name, backend in (("thread", "ThreadBackend"), ("sync", "SyncBackend")):
        assert out[name]["backend"] == backend
        assert out[name]["value"] == expected
        assert out[name]["status"] == "completed"
        assert (out[name]["progress"], out[name]["message"]) == (100, "Complete")
    assert out["thread"]["max_retries"] == 3  # the seed block's max_retries


# ---------------------------------------------------------------------------
# System checks, one id at a time
# ---------------------------------------------------------------------------


def test_test_settings_only_warn_about_tasks() -> None:
    assert ids() == ["rail_tasks.W003"]


def test_e001_block_is_not_a_dict() -> None:
    with override_settings(RAIL_TASKS=["backend", "sync"]):
        message = only("rail_tasks.E001")
    assert message.msg == "RAIL_TASKS must be a dict, not list."
    assert message.hint == 'For example RAIL_TASKS = {"backend": "database"}.'


def test_e002_unknown_key_suggests_the_close_one() -> None:
    with override_settings(RAIL_TASKS=rail_settings(max_retrys=3)):
        message = only("rail_tasks.E002")
    assert message.msg == "RAIL_TASKS has an unknown key 'max_retrys'."
    assert message.hint == "Did you mean 'max_retries'?"


def test_e002_unknown_key_far_from_any_lists_the_known_ones() -> None:
    with override_settings(RAIL_TASKS=rail_settings(zzz=1)):
        message = only("rail_tasks.E002")
    assert message.hint is not None
    assert message.hint.startswith("Known keys: autoload_plugins, backend, blocked_plugins")


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_retries", "3", "must be int, not str"),
        ("max_retries", True, "must be int, not bool"),  # bool is an int in Python; not here
        ("enabled", "yes", "must be bool, not str"),
        ("retry_delay", "60", "must be int or float, not str"),
        ("failure_callback", 3, "must be str or None, not int"),
        ("queues", "default", "must be list or tuple, not str"),
    ],
)
def test_e003_wrong_type(key: str, value: Any, expected: str) -> None:
    with override_settings(RAIL_TASKS=rail_settings(**{key: value})):
        message = only("rail_tasks.E003")
    assert message.msg == f"RAIL_TASKS[{key!r}] {expected}."
    assert message.hint == f"{key}: {SETTING_SPECS[key].help}"


def test_e004_bad_choice() -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="email")):
        message = only("rail_tasks.E004")
    assert message.msg == "RAIL_TASKS['on_failure'] is 'email'; expected one of 'log', 'callback', 'ignore'."


@pytest.mark.parametrize(
    ("key", "value", "bound"),
    [
        ("max_retries", -1, "zero or more"),
        ("result_ttl_seconds", -5, "zero or more"),
        ("retry_delay", -0.5, "zero or more"),
        ("slow_task_threshold_seconds", -1, "zero or more"),
        ("max_workers", 0, "greater than zero"),
        ("lease_seconds", 0, "greater than zero"),
        ("default_timeout", -3, "greater than zero"),
    ],
)
def test_e004_negative_numbers(key: str, value: float, bound: str) -> None:
    with override_settings(RAIL_TASKS=rail_settings(**{key: value})):
        message = only("rail_tasks.E004")
    assert message.msg == f"RAIL_TASKS[{key!r}] must be {bound}, got {value!r}."


def test_zero_is_fine_where_zero_makes_sense() -> None:
    with override_settings(RAIL_TASKS=rail_settings(max_retries=0, retry_delay=0, slow_task_threshold_seconds=0)):
        assert ids() == ["rail_tasks.W003"]


def test_e005_engine_backend_not_installed_hints_the_install() -> None:
    # Autoload off: the engine plugins installed in this environment are not loaded, as if absent.
    with override_settings(RAIL_TASKS=rail_settings(backend="celery", autoload_plugins=False)):
        message = only("rail_tasks.E005")
    assert message.msg == "Unknown rail-tasks backend 'celery' in RAIL_TASKS['backend']."
    assert message.hint == (
        "Its plugin is not installed: pip install 'rail-tasks[celery]'. Known backends: database, sync, thread."
    )


@pytest.mark.parametrize("name", ["dramatiq", "django_q"])
def test_e005_never_advertises_an_extra_that_does_not_install(name: str) -> None:
    with override_settings(RAIL_TASKS=rail_settings(backend=name, autoload_plugins=False)):
        message = only("rail_tasks.E005")
    assert message.hint == "No installed plugin provides it. Known backends: database, sync, thread."


def test_e005_unknown_backend() -> None:
    with override_settings(RAIL_TASKS=rail_settings(backend="carrier_pigeon", autoload_plugins=False)):
        message = only("rail_tasks.E005")
    assert message.hint == "No installed plugin provides it. Known backends: database, sync, thread."


def test_e005_misspelt_backend_names_the_closest() -> None:
    with override_settings(RAIL_TASKS=rail_settings(backend="databse", autoload_plugins=False)):
        message = only("rail_tasks.E005")
    assert message.hint == "Did you mean 'database'? Known backends: database, sync, thread."


def test_e005_backend_registered_twice(plugin: Any) -> None:
    class Twice:
        @hookimpl
        def rail_tasks_register_backends(self, register: Any) -> None:
            register("thread", "elsewhere.ThreadBackend")

    plugin(Twice(), "twice")
    message = only("rail_tasks.E005")
    assert "'thread' is registered by both" in message.msg


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("tests.taskapp.tasks_core5.no_such_function", "cannot be imported"),
        ("no_such_module.callback", "cannot be imported"),
        ("tests.taskapp.tasks_core5.NOT_CALLABLE", "is not callable"),
    ],
)
def test_e006_bad_failure_callback(path: str, problem: str) -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=path)):
        message = only("rail_tasks.E006")
    assert message.msg.startswith(f"RAIL_TASKS['failure_callback'] {path!r} {problem}")


def test_e006_callback_without_a_callback_path() -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback")):
        message = only("rail_tasks.E006")
    assert message.msg == "RAIL_TASKS['on_failure'] is 'callback' but no failure_callback is set."


def test_good_failure_callback_passes() -> None:
    good = "tests.taskapp.tasks_core5.record_failure"
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=good)):
        assert ids() == ["rail_tasks.W003"]


def test_w002_both_spellings() -> None:
    with override_settings(RAIL_DJANGO_GRAPHQL=SEED_BLOCK):
        message = only("rail_tasks.W002")
        assert task_settings.backend == "sync"  # RAIL_TASKS wins
    assert message.msg == 'Both RAIL_TASKS and RAIL_DJANGO_GRAPHQL["task_settings"] are set; only RAIL_TASKS is used.'


def test_w002_not_raised_for_other_graphql_settings() -> None:
    with override_settings(RAIL_DJANGO_GRAPHQL={"schema_settings": {"mutation_extensions": []}}):
        assert ids() == ["rail_tasks.W003"]


def test_w003_backend_and_tasks() -> None:
    message = only("rail_tasks.W003")
    assert message.msg == "RAIL_TASKS['backend'] is set but TASKS is defined too; Django uses TASKS."
    block = {k: v for k, v in settings.RAIL_TASKS.items() if k != "backend"}
    with override_settings(RAIL_TASKS=block):
        assert ids() == []


@pytest.mark.django_db
def test_manage_py_check_fails_on_errors_and_names_the_id() -> None:
    with override_settings(RAIL_TASKS=rail_settings(max_retrys=3)), pytest.raises(SystemCheckError) as info:
        call_command("check")
    assert "rail_tasks.E002" in str(info.value)
    assert "Did you mean 'max_retries'?" in str(info.value)


def test_several_problems_are_reported_together() -> None:
    with override_settings(RAIL_TASKS=rail_settings(max_retries="x", on_failure="pager", bogus=1)):
        assert ids() == ["rail_tasks.E002", "rail_tasks.E003", "rail_tasks.E004", "rail_tasks.W003"]
