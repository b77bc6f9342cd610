"""Settings of the example project as the live tests run it (daphne and the worker processes).

The test settings plus: the example URLs (``/graphql/`` over HTTP) and task mutations
enqueued on the ``database`` alias, so a separate worker process runs them.
"""

from __future__ import annotations

import importlib.util

from tests.settings import *  # noqa: F403

ROOT_URLCONF = "tests.rail_tasks_graphql.example.urls"
RAIL_TASKS_GRAPHQL = {
    "backend": "database",
    # Broadcast to the channels-graphql-ws endpoint too, when that package is installed.
    "channels_graphql_ws": importlib.util.find_spec("channels_graphql_ws") is not None,
}
