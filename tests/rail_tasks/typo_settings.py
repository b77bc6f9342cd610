"""Test settings with no ``TASKS`` and a backend name taken from ``RAIL_TASKS_TEST_BACKEND_NAME``.

A newcomer's misspelt ``RAIL_TASKS["backend"]``: every process must refuse to start.
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403

del TASKS  # noqa: F821 - defined by the star import

RAIL_TASKS = {"backend": os.environ.get("RAIL_TASKS_TEST_BACKEND_NAME", "celeryy")}
