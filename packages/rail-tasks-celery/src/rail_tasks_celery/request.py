"""The Celery request of the generic task: failures Celery sees outside the task are recorded.

A hard time limit kills the pool child, and a child can vanish (OOM, a
segfault): the task function never returns, so Celery's main process records
the attempt through the engine kit's :func:`~rail_tasks.engine.fail_running_attempt`
(fenced to the attempt this delivery claimed), and the retry rules apply at
once instead of after the lease runs out.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback  # type: ignore[attr-defined]
from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery.worker.request import Request
from django.db import close_old_connections, connection

from rail_tasks import TaskCancelled, TaskTimeout, WorkerLost
from rail_tasks.engine import fail_running_attempt

__all__ = ["RailRequest", "record_outside_failure"]

logger = logging.getLogger("rail_tasks.celery")


def record_outside_failure(celery_task_id: str, args: Any, error: BaseException) -> None:
    """Record ``error`` for the attempt the Celery task ``celery_task_id`` claimed, if it still runs."""
    try:
        execution_id = str(next(iter(args)))
    except (TypeError, StopIteration):
        return
    try:
        close_old_connections()
        fail_running_attempt(execution_id, error, worker_prefix=f"{celery_task_id}@")
    except Exception:
        logger.exception("rail-tasks-celery could not record %r for execution %s", error, execution_id)
    finally:
        connection.close()  # the main process forks new children: keep no socket open


class RailRequest(Request):
    """Celery request of the generic task: hard time limits and lost children are recorded."""

    def on_timeout(self, soft: bool, timeout: float) -> None:
        """Record a hard time limit as :class:`rail_tasks.TaskTimeout` (soft ones are raised in the child)."""
        super().on_timeout(soft, timeout)
        if not soft:
            error = TaskTimeout(f"Task was killed at the hard time limit of {timeout:g}s")
            record_outside_failure(self.id, self.args, error)

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
        """Record a lost child as :class:`rail_tasks.WorkerLost` (a hard limit as a timeout)."""
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, TaskCancelled):
            return  # a user's cancel, recorded by the core: not a Celery task failure worth an ERROR
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        if isinstance(exc, TimeLimitExceeded):
            record_outside_failure(self.id, self.args, TaskTimeout(f"Task was killed at the hard time limit ({exc})"))
        elif isinstance(exc, WorkerLostError | SystemExit | KeyboardInterrupt):
            record_outside_failure(self.id, self.args, WorkerLost(f"Worker lost: {exc}"))
