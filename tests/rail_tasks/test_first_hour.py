"""A Django developer's first hour (issue 14): every misstep gets a clear answer, nothing goes wrong silently."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.process import REPO_ROOT, subprocess_env


def run_django(*args: str, settings: str = "tests.rail_tasks.typo_settings", **env: str) -> subprocess.CompletedProcess[str]:
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
    assert "Known backends: celery, database, sync, thread" in done.stderr


def test_backend_of_a_missing_plugin_names_the_install() -> None:
    done = run_django("shell", "--no-imports", "-c", "print('started')", RAIL_TASKS_TEST_BACKEND_NAME="dramatiq")
    assert done.returncode != 0
    assert "started" not in done.stdout
    assert "Unknown rail-tasks backend 'dramatiq'" in done.stderr
    assert "No installed plugin provides it." in done.stderr


def test_valid_backend_name_still_starts() -> None:
    done = run_django(
        "shell", "--no-imports", "-c", "from django.conf import settings; print(settings.TASKS['default']['BACKEND'])",
        RAIL_TASKS_TEST_BACKEND_NAME="thread",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "rail_tasks.backends.thread.ThreadBackend"
