"""Settings shared by the whole test suite.

``RAIL_TASKS_TEST_DB=postgres`` runs against the PostgreSQL on 127.0.0.1:5432
(``RAIL_TASKS_TEST_PG_*`` to point elsewhere); the default is SQLite.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "rail-tasks-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The live server (the admin's browser test) serves the admin's CSS from STATIC_ROOT under this URL.
STATIC_URL = "/static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rail_tasks",
    "tests.taskapp",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "rail_tasks.middleware.TaskOwnerMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DB = os.environ.get("RAIL_TASKS_TEST_DB", "sqlite")
if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ.get("RAIL_TASKS_TEST_PG_NAME", "rail_tasks"),
            "USER": os.environ.get("RAIL_TASKS_TEST_PG_USER", "postgres"),
            "HOST": os.environ.get("RAIL_TASKS_TEST_PG_HOST", "127.0.0.1"),
            "PORT": os.environ.get("RAIL_TASKS_TEST_PG_PORT", "5432"),
            "TEST": {"NAME": os.environ.get("RAIL_TASKS_TEST_PG_TEST_NAME", "test_rail_tasks")},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # Worker subprocesses are pointed at the test database through this variable.
            "NAME": os.environ.get("RAIL_TASKS_TEST_SQLITE_DB", str(BASE_DIR / ".test-db.sqlite3")),
            "TEST": {"NAME": os.environ.get("RAIL_TASKS_TEST_SQLITE_NAME", str(BASE_DIR / ".test-db.sqlite3"))},
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

# Several aliases, so worker subprocesses (same settings) agree with the test process.
# Plugin test folders add their own aliases in tests/<package>/settings_extra.py.
TASKS = {
    "default": {"BACKEND": "rail_tasks.backends.sync.SyncBackend"},
    "thread": {"BACKEND": "rail_tasks.backends.thread.ThreadBackend", "OPTIONS": {"max_workers": 2}},
    "database": {"BACKEND": "rail_tasks.backends.database.DatabaseBackend"},
}

RAIL_TASKS = {
    "backend": "sync",
    "max_retries": 0,
    "retry_delay": 0,
    "progress_throttle_seconds": 0,
    # Records hooks and signals to the JSON-lines file named by RAIL_TASKS_TEST_EVENTS (any process).
    "plugins": ["rail_tasks.testing.recorder"],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"rail_tasks": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}

# Plugin test packages extend these settings: tests/<package>/settings_extra.py
# defines ``apply(settings: dict) -> None`` (skipped when the plugin is not installed).
_PLUGIN_PACKAGES = (
    "rail_tasks_celery",
    "rail_tasks_dramatiq",
    "rail_tasks_djangoq",
    "rail_tasks_graphql",
    "rail_tasks_otel",
)
for _package in _PLUGIN_PACKAGES:
    import importlib.util

    if importlib.util.find_spec(_package) is None or importlib.util.find_spec(f"tests.{_package}") is None:
        continue
    try:
        _extra = importlib.import_module(f"tests.{_package}.settings_extra")
    except ModuleNotFoundError:
        continue
    _extra.apply(globals())
