"""Settings shared by the whole test suite.

``RAIL_TASKS_TEST_DB=postgres`` runs against the PostgreSQL on 127.0.0.1:5432
(``RAIL_TASKS_TEST_PG_*`` to point elsewhere); the default is SQLite.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "rail-tasks-tests-not-secret"  # noqa: S105
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

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
            "NAME": str(BASE_DIR / ".test-db.sqlite3"),
            "TEST": {"NAME": os.environ.get("RAIL_TASKS_TEST_SQLITE_NAME", str(BASE_DIR / ".test-db.sqlite3"))},
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

RAIL_TASKS = {
    "backend": "sync",
    "max_retries": 0,
    "retry_delay": 0,
    "progress_throttle_seconds": 0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"rail_tasks": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}
