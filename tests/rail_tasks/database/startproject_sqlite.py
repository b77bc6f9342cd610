"""Test settings with the SQLite database exactly as ``django-admin startproject`` writes it (no OPTIONS).

The file is ``RAIL_TASKS_TEST_STARTPROJECT_DB``; ``RAIL_TASKS_TEST_SQLITE_OPTIONS`` (JSON) adds options,
e.g. the WAL settings most SQLite deployments use, without ``transaction_mode``.
"""

from __future__ import annotations

import json
import os

from tests.settings import *  # noqa: F403

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["RAIL_TASKS_TEST_STARTPROJECT_DB"],
        "OPTIONS": json.loads(os.environ.get("RAIL_TASKS_TEST_SQLITE_OPTIONS", "{}")),
    }
}
