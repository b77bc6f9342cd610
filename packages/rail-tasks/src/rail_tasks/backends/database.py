"""``database``: the ``TaskExecution`` table is the queue; ``rail_tasks_worker`` runs it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rail_tasks.backends.base import RailBackend

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["DatabaseBackend"]


class DatabaseBackend(RailBackend):
    """The embedded default: no broker, the row itself is the message.

    Run ``python manage.py rail_tasks_worker`` to execute tasks.
    """

    supports_timeout = True
    supports_cancel_running = True

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> None:
        """Nothing to hand over: the committed row is what workers claim."""
