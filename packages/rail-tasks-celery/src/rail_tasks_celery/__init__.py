"""rail-tasks-celery: rail-tasks executions carried by Celery, at least once.

``TASKS = {"default": {"BACKEND": "rail_tasks_celery.CeleryBackend"}}``, or the
seed's short name ``RAIL_TASKS = {"backend": "celery", "celery_app": "proj.celery.app"}``.
The worker is the one you already run: ``celery -A proj worker``.
"""

from __future__ import annotations

from rail_tasks_celery import signals as _signals  # noqa: F401 - starts the reaper with each worker
from rail_tasks_celery.__about__ import __version__
from rail_tasks_celery.backend import CeleryBackend
from rail_tasks_celery.worker import TASK_NAME, RailCeleryTask, run_execution_task

__all__ = ["TASK_NAME", "CeleryBackend", "RailCeleryTask", "__version__", "run_execution_task"]
