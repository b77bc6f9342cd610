"""The one generic Celery task: "run execution <id>" through the core.

It is registered on every Celery app (``shared_task``), so the user's own app
and ``celery -A proj worker`` know it as soon as this package is imported;
rail-tasks imports it at Django start-up through its plugin entry point.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import Task, shared_task
from django.db import close_old_connections
from django.tasks import task_backends
from django.utils import timezone

from rail_tasks import RailBackend, Status, WorkerLost, fail_execution, run_execution
from rail_tasks_celery import heartbeat, interrupts
from rail_tasks_celery.delivery import delivery

__all__ = ["TASK_NAME", "RailCeleryTask", "delivery_worker_id", "run_execution_task"]

logger = logging.getLogger("rail_tasks.celery")

#: The Celery task name every rail-tasks message carries.
TASK_NAME = "rail_tasks.run_execution"

#: Seconds early a hop may arrive and still count as due.
_HOP_SLACK = 0.5


class RailCeleryTask(Task):  # type: ignore[type-arg]
    """Celery options of the generic task: late ack, requeue on a lost child, no result stored."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True
    typing = False
    Request = "rail_tasks_celery.request:RailRequest"


def delivery_worker_id(celery_task_id: str, hostname: str | None) -> str:
    """The ``worker_id`` an attempt claims with: the Celery task id first, then the worker's name."""
    return f"{celery_task_id}@{hostname or 'celery'}"[:64]


def celery_task_id_of(worker_id: str) -> str:
    """The Celery task id recorded in a ``worker_id`` written by :func:`delivery_worker_id`."""
    return worker_id.partition("@")[0]


def _reschedule(execution_id: str, not_before: datetime) -> bool:
    """Send a long-delayed message on its next hop. Returns whether it was not due yet."""
    from rail_tasks import TaskExecution

    if timezone.now() >= not_before - timedelta(seconds=_HOP_SLACK):
        return False
    execution = TaskExecution.objects.filter(pk=execution_id, status__in=(Status.PENDING, Status.RETRYING)).first()
    if execution is not None:
        backend = task_backends[execution.backend]
        if isinstance(backend, RailBackend):
            backend.submit(execution, run_after=not_before)
    return True


def _not_due(execution_id: str) -> bool:
    """Whether a redelivered message arrived for an execution that waits for a later ``run_after``.

    Its own message (the core's retry, or the deferred one) is on its way, so
    this copy is dropped instead of starting the attempt early.
    """
    from rail_tasks import TaskExecution

    row = TaskExecution.objects.filter(pk=execution_id).values_list("status", "run_after").first()
    if row is None:
        return False
    status, run_after = row
    due = run_after is None or run_after <= timezone.now() + timedelta(seconds=_HOP_SLACK)
    return status in (Status.PENDING, Status.RETRYING) and not due


def _settle_duplicate(execution_id: str) -> None:
    """A delivery found its execution claimed: if that attempt's lease ran out, record it lost."""
    from rail_tasks import TaskExecution

    row = TaskExecution.objects.filter(pk=execution_id).lease_expired().values_list("attempts", "worker_id").first()
    if row is None:
        return  # finished, or a live attempt still renews its lease
    attempts, worker_id = row
    logger.warning(
        "Execution %s attempt %d (%s) stopped renewing its lease; recording it lost", execution_id, attempts, worker_id
    )
    fail_execution(
        execution_id,
        WorkerLost(f"Worker lost: {worker_id or 'the worker'} stopped renewing its lease on attempt {attempts}"),
        attempt=attempts,
    )


@shared_task(name=TASK_NAME, bind=True, base=RailCeleryTask)
def run_execution_task(
    self: RailCeleryTask,
    execution_id: str,
    lease_seconds: float | None = None,
    heartbeat_seconds: float | None = None,
    not_before: str | None = None,
) -> None:
    """Run rail-tasks execution ``execution_id`` (the body of every rail-tasks Celery message)."""
    if not_before and _reschedule(execution_id, datetime.fromisoformat(not_before)):
        return
    request: Any = self.request
    if (request.delivery_info or {}).get("redelivered") and _not_due(execution_id):
        return
    worker_id = delivery_worker_id(str(request.id), request.hostname)
    lease = float(lease_seconds) if lease_seconds else None
    beat = float(heartbeat_seconds) if heartbeat_seconds else None
    if lease and beat:
        heartbeat.ensure_started(beat)
    interrupts.install()
    # Django's request hygiene: drop connections past CONN_MAX_AGE or broken (CONN_HEALTH_CHECKS) before
    # and after, for workers that keep connections between tasks (CELERY_DB_REUSE_MAX).
    close_old_connections()
    try:
        with delivery(execution_id, worker_id, lease or 0.0, beat or 0.0):
            finished = run_execution(execution_id, worker_id=worker_id, lease_seconds=lease)
        if finished is None:
            _settle_duplicate(execution_id)
    finally:
        close_old_connections()
