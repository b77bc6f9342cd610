"""rail-tasks-dramatiq: rail-tasks executions carried by Dramatiq, at least once.

``TASKS = {"default": {"BACKEND": "rail_tasks_dramatiq.DramatiqBackend",
"OPTIONS": {"dramatiq_broker": "redis://127.0.0.1:6379/0"}}}``, or the rail-django API's
short name ``"backend": "dramatiq"`` with django_dramatiq's ``DRAMATIQ_BROKER``.
Workers: ``python -m dramatiq rail_tasks_dramatiq.worker``.
"""

from __future__ import annotations

from rail_tasks_dramatiq.__about__ import __version__
from rail_tasks_dramatiq.actor import ACTOR_NAME, run_execution, serve
from rail_tasks_dramatiq.backend import DramatiqBackend

__all__ = ["ACTOR_NAME", "DramatiqBackend", "__version__", "run_execution", "serve"]
