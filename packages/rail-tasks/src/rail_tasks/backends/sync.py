"""``sync``: runs each task inline, inside ``enqueue`` (for tests and scripts)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rail_tasks.backends.base import RailBackend
from rail_tasks.runner import run_execution

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["SyncBackend"]


class SyncBackend(RailBackend):
    """Run the task in the calling thread as soon as the enqueuing transaction commits.

    ``run_after`` is refused at enqueue (``supports_defer = False``); retries run
    at once, one after another, without their delay (nothing may sleep here). Timeouts are checked only at
    ``update_progress`` calls; a running task cannot be stopped from outside.
    """

    supports_defer = False  # nothing here may wait; Django's ImmediateBackend says the same
    runs_inline: ClassVar[bool] = True

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> str:
        """Run the execution now; the execution id is the message id."""
        run_execution(execution.pk, worker_id=f"sync:{self.alias}")
        return str(execution.pk)
