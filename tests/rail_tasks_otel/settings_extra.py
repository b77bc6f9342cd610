"""Test settings for rail-tasks-otel: the SDK app in worker subprocesses that the tests point at a directory."""

from __future__ import annotations

import os
from typing import Any

from tests.rail_tasks_otel.sdkapp.apps import DIR_ENV

#: Celery's worker recycles each pool process after this many tasks (the flush-before-exit test).
MAX_TASKS_PER_CHILD_ENV = "RAIL_TASKS_TEST_OTEL_MAX_TASKS_PER_CHILD"


def apply(settings: dict[str, Any]) -> None:
    """Install the SDK app when ``RAIL_TASKS_TEST_OTEL_DIR`` is set (worker subprocesses of these tests)."""
    if os.environ.get(DIR_ENV):
        settings["INSTALLED_APPS"] = [*settings["INSTALLED_APPS"], "tests.rail_tasks_otel.sdkapp.apps.SdkAppConfig"]
    if os.environ.get(MAX_TASKS_PER_CHILD_ENV):
        settings["CELERY_WORKER_MAX_TASKS_PER_CHILD"] = int(os.environ[MAX_TASKS_PER_CHILD_ENV])
