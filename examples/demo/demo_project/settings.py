"""Settings of the demo: SQLite and the embedded database backend, no server needed."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "demo-only-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]
USE_TZ = True
ROOT_URLCONF = "demo_project.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rail_tasks",
    "reports",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DB", str(BASE_DIR / "demo.sqlite3")),
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }
}

# The seed's settings block, as a project would write it.
RAIL_TASKS = {
    "backend": "database",
    "default_queue": "default",
    "result_ttl_seconds": 86400,
    "max_retries": 2,
    "retry_delay": 1,
    "retry_backoff": True,
    "poll_interval": 0.2,
    "log_task_complete": True,
}

# run_demo.py --trace: every process of the demo (the demo itself, the worker and its children) traces.
if os.environ.get("DEMO_TRACE_DIR"):
    from demo_project.telemetry import setup_tracing

    setup_tracing(os.environ["DEMO_TRACE_DIR"])
