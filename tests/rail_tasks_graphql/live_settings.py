"""Settings of the example project as the live tests run it (daphne and the worker processes).

The test settings plus: the example URLs (``/graphql/`` over HTTP) and task mutations
enqueued on the ``database`` alias, so a separate worker process runs them.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.rail_tasks_graphql.example.urls"
RAIL_TASKS_GRAPHQL = {"backend": "database"}
