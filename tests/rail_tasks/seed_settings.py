"""Test settings with seed 001's block copied verbatim and no ``TASKS``: rail-tasks derives ``TASKS``."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

del TASKS  # noqa: F821 - defined by the star import
del RAIL_TASKS  # noqa: F821

# root/settings/base.py  (seed 001, "Basic Configuration", unchanged)
RAIL_DJANGO_GRAPHQL = {
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
