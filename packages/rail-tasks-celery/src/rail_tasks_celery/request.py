"""``RailRequest``: the worker's main process records what the pool child could not.

When the pool kills a child at the hard time limit, or a child dies mid-task,
the child cannot write anything. Celery then calls the request's handlers in
the worker's main process; this subclass records the attempt there through
the core (:func:`rail_tasks.fail_execution`, fenced by the attempt that this
delivery claimed), so the retry rules apply at once instead of after the lease
runs out.
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback  # type: ignore[attr-defined]
from billiard.exceptions import TimeLimitExceeded, WorkerLostError
from celery.worker.request import Request
from django.db import close_old_connections, connection

from rail_tasks import Status, TaskTimeout, WorkerLost, fail_execution

__all__ = ["RailRequest", "record_outside_failure"]

logger = logging.getLogger("rail_tasks.celery")


def record_outside_failure(celery_task_id: str, args: Any, error: BaseException) -> None:
    """Record ``error`` for the attempt the Celery task ``celery_task_id`` claimed, if it still runs."""
    from rail_tasks import TaskExecution
    from rail_tasks_celery.worker import delivery_worker_id

    try:
        execution_id = str(next(iter(args)))
    except (TypeError, StopIteration):
        return
    prefix = delivery_worker_id(celery_task_id, None).partition("@")[0] + "@"
    try:
        close_old_connections()
        row = (
            TaskExecution.objects.filter(pk=execution_id, status=Status.RUNNING, worker_id__startswith=prefix)
            .values_list("attempts", flat=True)
            .first()
        )
        if row is not None:
            fail_execution(execution_id, error, attempt=row)
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
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):
            exc = exc.exc
        if isinstance(exc, TimeLimitExceeded):
            record_outside_failure(self.id, self.args, TaskTimeout(f"Task was killed at the hard time limit ({exc})"))
        elif isinstance(exc, WorkerLostError | SystemExit | KeyboardInterrupt):
            record_outside_failure(self.id, self.args, WorkerLost(f"Worker lost: {exc}"))
