"""rail-tasks-djangoq: rail-tasks executions carried by a Django-Q2 cluster.

``TASKS = {"default": {"BACKEND": "rail_tasks_djangoq.DjangoQBackend"}}``, or
the seed's short name ``RAIL_TASKS = {"backend": "django_q"}``. The workers
are Django-Q2's own: ``python manage.py qcluster``. See docs/djangoq.md.
"""

from __future__ import annotations

from rail_tasks_djangoq.__about__ import __version__
from rail_tasks_djangoq.backend import DjangoQBackend
from rail_tasks_djangoq.worker import FUNCTION

__all__ = ["FUNCTION", "DjangoQBackend", "__version__"]
