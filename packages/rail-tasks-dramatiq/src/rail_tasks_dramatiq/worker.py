"""The worker module: ``python -m dramatiq rail_tasks_dramatiq.worker`` (with ``DJANGO_SETTINGS_MODULE`` set).

Sets Django up, then declares the rail-tasks actor, its queues and
:class:`~rail_tasks_dramatiq.middleware.RailMiddleware` on the broker of the
``DramatiqBackend`` aliases it serves (``RAIL_TASKS_DRAMATIQ_ALIASES``, or all
of them) and makes that broker Dramatiq's current one. Add your own actor
modules after it on the command line.
"""

from __future__ import annotations

import django

django.setup()

from rail_tasks_dramatiq.actor import serve  # noqa: E402 - needs Django set up

broker = serve()
