"""A Django developer's first hour (issue 14): every misstep gets a clear answer, nothing goes wrong silently."""

from __future__ import annotations

import ast
import logging
import re
import subprocess
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.checks import CheckMessage, Tags, run_checks
from django.tasks.exceptions import InvalidTask
from django.test import override_settings
from django.utils import timezone

import rail_tasks
from rail_tasks import Status, TaskExecution, run_execution
from rail_tasks.backends.database import WorkerOptions
from tests.process import REPO_ROOT, subprocess_env


def run_django(
    *args: str, settings: str = "tests.rail_tasks.typo_settings", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=REPO_ROOT,
        env=subprocess_env(DJANGO_SETTINGS_MODULE=settings, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# ---------------------------------------------------------------------------
# 1. A misspelt or missing backend never falls back to Django's ImmediateBackend
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("shell", "--no-imports", "-c", "from django.tasks import default_task_backend; print(default_task_backend)"),
        ("rail_tasks_worker", "--burst"),
        ("check",),
    ],
    ids=["shell", "worker", "check"],
)
def test_misspelt_backend_stops_every_process_at_start(command: tuple[str, ...]) -> None:
    done = run_django(*command)
    assert done.returncode != 0, done.stdout
    assert "ImmediateBackend" not in done.stdout
    assert "ImproperlyConfigured" in done.stderr
    assert "Unknown rail-tasks backend 'celeryy' in RAIL_TASKS['backend']" in done.stderr
    assert "Did you mean 'celery'?" in done.stderr
    assert "Known backends: celery, database, django_q, dramatiq, sync, thread" in done.stderr


def test_backend_of_a_missing_plugin_names_the_install() -> None:
    done = run_django("shell", "--no-imports", "-c", "print('started')", RAIL_TASKS_TEST_BACKEND_NAME="huey")
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert "Unknown rail-tasks backend 'huey'" in done.stderr
    assert "No installed plugin provides it." in done.stderr


def test_valid_backend_name_still_starts() -> None:
    done = run_django(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.TASKS['default']['BACKEND'])",
        RAIL_TASKS_TEST_BACKEND_NAME="thread",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rail_tasks.backends.thread.ThreadBackend"


# ---------------------------------------------------------------------------
# 2. Every advertised extra installs
# ---------------------------------------------------------------------------

PACKAGES = REPO_ROOT / "packages"


def core_extras() -> dict[str, list[str]]:
    data = tomllib.loads((PACKAGES / "rail-tasks" / "pyproject.toml").read_text())
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    return extras


def test_core_extras_name_only_packages_of_this_repository() -> None:
    ours = {path.name for path in PACKAGES.iterdir() if (path / "pyproject.toml").exists()}
    for extra, requirements in core_extras().items():
        for requirement in requirements:
            name = re.split(r"[\[<>=~!; ]", requirement, maxsplit=1)[0]
            if name.startswith("rail-tasks"):
                assert name in ours, f"extra {extra!r} needs {name}, which is not in packages/ (pip cannot install it)"


def user_facing_texts() -> dict[str, str]:
    paths = [
        REPO_ROOT / "README.md",
        *sorted((REPO_ROOT / "docs").glob("*.md")),
        *sorted(PACKAGES.glob("*/README.md")),
        *sorted(PACKAGES.glob("*/src/**/*.py")),
    ]
    return {str(path.relative_to(REPO_ROOT)): path.read_text() for path in paths}


def test_docs_and_hints_advertise_only_extras_that_exist() -> None:
    extras = set(core_extras())
    for name, text in user_facing_texts().items():
        for match in re.finditer(r"rail-tasks\[([a-z_,\s]+)\]", text):
            for extra in match.group(1).split(","):
                assert extra.strip() in extras, f"{name} advertises rail-tasks[{extra.strip()}], which does not exist"


# ---------------------------------------------------------------------------
# 4. A worker on an unmigrated database says "run migrate" and exits
# ---------------------------------------------------------------------------


def test_worker_on_an_unmigrated_database_exits_telling_to_migrate(tmp_path: Path) -> None:
    empty = tmp_path / "fresh.sqlite3"
    try:
        done = subprocess.run(
            [sys.executable, "-m", "django", "rail_tasks_worker"],
            cwd=REPO_ROOT,
            env=subprocess_env(RAIL_TASKS_TEST_DB="sqlite", RAIL_TASKS_TEST_SQLITE_DB=str(empty)),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the worker kept running on an unmigrated database: {exc.stdout!r} {exc.stderr!r}")
    assert done.returncode == 1
    assert "rail_tasks.0001_initial" in done.stderr
    assert "python manage.py migrate" in done.stderr
    assert "retrying" not in done.stdout + done.stderr


# ---------------------------------------------------------------------------
# 5. Deploy skew: a worker on old code waits for the new code instead of failing the task
# ---------------------------------------------------------------------------


def _enqueued_by_newer_code(**fields: Any) -> TaskExecution:
    return TaskExecution.objects.create(
        name="added_by_a_later_deploy",
        task_path="tests.taskapp.tasks.added_by_a_later_deploy",
        backend="database",
        **fields,
    )


@pytest.mark.django_db
def test_task_missing_from_the_workers_code_is_retried_with_a_restart_hint(caplog: pytest.LogCaptureFixture) -> None:
    row = _enqueued_by_newer_code(max_retries=0)
    with caplog.at_level(logging.WARNING, logger="rail_tasks"):
        run_execution(row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.worker_id) == (Status.PENDING, 0, "")
    assert row.run_after is not None
    assert row.run_after > timezone.now()
    assert "may need a restart" in caplog.text
    assert "tests.taskapp.tasks.added_by_a_later_deploy" in caplog.text


@pytest.mark.django_db
def test_task_missing_for_longer_than_a_deploy_takes_fails_naming_the_restart() -> None:
    row = _enqueued_by_newer_code(created_at=timezone.now() - timedelta(hours=2))
    run_execution(row.pk)
    row.refresh_from_db()
    assert row.status == Status.FAILED
    assert "not a registered task" in row.error
    assert "restart" in row.error


# ---------------------------------------------------------------------------
# 6. A task module outside installed apps is refused at enqueue, with the fix
# ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_task_outside_installed_apps_is_refused_at_enqueue_with_the_fix() -> None:
    from tests import project_tasks

    with pytest.raises(InvalidTask) as caught:
        project_tasks.multiply.enqueue(6, 7)
    message = str(caught.value)
    assert "'tests.project_tasks' is not part of an installed app" in message
    assert "RAIL_TASKS['task_modules'] = ['tests.project_tasks']" in message
    assert not TaskExecution.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_task_modules_setting_lets_workers_run_a_project_module() -> None:
    from tests import project_tasks

    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "task_modules": ["tests.project_tasks"]}):
        result = project_tasks.multiply.enqueue(6, 7)
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.status, row.result) == (Status.COMPLETED, 42)


# ---------------------------------------------------------------------------
# 7. current_task() outside a worker: a handle that does nothing, so task code runs anywhere
# ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_task_called_directly_gets_a_detached_handle() -> None:
    from tests.taskapp import tasks

    assert tasks.generate_report.call("direct") == {
        "ok": True,
        "dataset_id": "direct",
        "file_path": "/reports/direct.pdf",
    }
    assert not TaskExecution.objects.exists()


def test_detached_handle_reports_nothing_and_never_stops_the_code() -> None:
    handle = rail_tasks.current_task()
    assert handle.detached
    handle.update_progress(150, "Processing...")
    handle.check()
    assert (handle.progress, handle.is_cancelled, handle.attempt) == (100, False, 0)
    assert handle.id == ""


# ---------------------------------------------------------------------------
# 8. Backend OPTIONS are checked like RAIL_TASKS, with did-you-mean
# ---------------------------------------------------------------------------


def _option_messages(alias: str, backend: str, options: dict[str, Any]) -> list[CheckMessage]:
    tasks_setting = {**settings.TASKS, alias: {"BACKEND": backend, "OPTIONS": options}}
    with override_settings(TASKS=tasks_setting):
        messages = run_checks(tags=[Tags.compatibility])
    return [m for m in messages if str(m.id).startswith("rail_tasks.")]


DATABASE = "rail_tasks.backends.database.DatabaseBackend"


def test_backend_option_of_the_wrong_type_is_named() -> None:
    messages = _option_messages("database", DATABASE, {"lease_seconds": "abc"})
    assert [(m.id, m.msg) for m in messages if m.id != "rail_tasks.W003"] == [
        ("rail_tasks.E003", "TASKS['database']['OPTIONS']['lease_seconds'] must be int or float, not str.")
    ]


def test_misspelt_backend_option_gets_did_you_mean() -> None:
    (message,) = [m for m in _option_messages("database", DATABASE, {"lease_secs": 30}) if m.id != "rail_tasks.W003"]
    assert (message.id, message.msg) == (
        "rail_tasks.E002",
        "TASKS['database']['OPTIONS'] has an unknown key 'lease_secs'.",
    )
    assert message.hint == "Did you mean 'lease_seconds'?"
    (message,) = [
        m
        for m in _option_messages("thread", "rail_tasks.backends.thread.ThreadBackend", {"max_worker": 2})
        if m.id != "rail_tasks.W003"
    ]
    assert message.hint == "Did you mean 'max_workers'?"


def test_backend_option_out_of_range_is_named() -> None:
    messages = [
        m for m in _option_messages("database", DATABASE, {"heartbeat_seconds": 0}) if m.id != "rail_tasks.W003"
    ]
    assert [(m.id, m.msg) for m in messages] == [
        ("rail_tasks.E004", "TASKS['database']['OPTIONS']['heartbeat_seconds'] must be greater than zero, got 0.")
    ]


def test_worker_refuses_bad_options_naming_them() -> None:
    tasks_setting = {**settings.TASKS, "database": {"BACKEND": DATABASE, "OPTIONS": {"lease_seconds": "abc"}}}
    with override_settings(TASKS=tasks_setting), pytest.raises(ValueError, match=r"\['lease_seconds'\] must be"):
        WorkerOptions(backends=["database"]).resolve()


# ---------------------------------------------------------------------------
# 10, 13. Messages link the published docs, never a docs/ path the wheels do not contain
# ---------------------------------------------------------------------------


def test_docs_url_is_the_one_every_package_advertises() -> None:
    from rail_tasks.conf import DOCS_URL

    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        urls = tomllib.loads(pyproject.read_text())["project"].get("urls", {})
        assert urls.get("Documentation") == DOCS_URL, pyproject


def _message_strings(source: str) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings, with their line numbers."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_no_message_names_a_docs_path() -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {text!r}"
        for path in sorted(PACKAGES.glob("*/src/**/*.py"))
        for line, text in _message_strings(path.read_text())
        if re.search(r"docs/[\w-]+\.md", text)
    ]
    assert found == [], "the installed packages have no docs/ folder: link docs_url(...) instead"


# ---------------------------------------------------------------------------
# 15. Docs and packaging
# ---------------------------------------------------------------------------


def test_every_package_ships_its_license() -> None:
    for pyproject in sorted(PACKAGES.glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        assert project.get("license-files") == ["LICENSE"], pyproject
        assert (pyproject.parent / "LICENSE").read_text().startswith("MIT License"), pyproject.parent


def test_user_docs_speak_no_seed_jargon() -> None:
    docs = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md")), *sorted(PACKAGES.glob("*/README.md"))]
    found = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {line.strip()}"
        for path in docs
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bseeds?\b", line, re.IGNORECASE)
    ]
    assert found == [], "say 'the rail-django API' instead"


# ---------------------------------------------------------------------------
# 11. Django's contract: log records on django.tasks, and where they differ (documented)
# ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("task_name", "args", "levels"),
    [
        ("always_fails", ("boom",), ["DEBUG", "INFO", "ERROR"]),  # max_retries=0: Django's three records
        ("flaky_external_call", ("x", 99), ["DEBUG", *["INFO"] * 4, "ERROR"]),  # 3 retries: one INFO per attempt
    ],
)
def test_failed_task_logs_like_django_once_per_attempt(
    caplog: pytest.LogCaptureFixture, task_name: str, args: tuple[Any, ...], levels: list[str]
) -> None:
    from tests.taskapp import tasks

    with caplog.at_level(logging.DEBUG, logger="django.tasks"):
        getattr(tasks, task_name).enqueue(*args)
    assert [record.levelname for record in caplog.records if record.name == "django.tasks"] == levels
    docs = (REPO_ROOT / "docs" / "backends.md").read_text()
    assert "each attempt\n  firing `task_started` again" in docs


# ---------------------------------------------------------------------------
# 13. A user's cancel is not an error in the logs
# ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_cancel_is_logged_at_info_without_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    import time

    from tests.taskapp import tasks

    with caplog.at_level(logging.DEBUG, logger="django.tasks"):
        result = tasks.wait_for_cancel.using(backend="thread").enqueue(10.0)
        deadline = time.monotonic() + 10
        while TaskExecution.objects.get(pk=result.id).status != Status.RUNNING and time.monotonic() < deadline:
            time.sleep(0.02)
        rail_tasks.cancel_execution(result.id)
        while TaskExecution.objects.get(pk=result.id).status != Status.CANCELLED and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)  # the finished signal is sent right after the row is written
    (finished,) = [r for r in caplog.records if r.name == "django.tasks" and "state=FAILED" in r.getMessage()]
    assert finished.levelname == "INFO"
    assert finished.exc_info is None
    assert finished.getMessage().endswith("(cancelled)")


def test_worker_without_a_database_alias_names_the_configured_backends() -> None:
    tasks_setting = {"default": {"BACKEND": "rail_tasks.backends.sync.SyncBackend"}}
    with override_settings(TASKS=tasks_setting), pytest.raises(ValueError, match="No TASKS alias uses") as caught:
        WorkerOptions().resolve()
    assert "(TASKS: default -> rail_tasks.backends.sync.SyncBackend)" in str(caught.value)
    assert "RAIL_TASKS['backend'] = 'database'" in str(caught.value)
