"""The one generic Celery task: "run execution <id>" through the engine kit.

It is registered on every Celery app (``shared_task``), so the user's own app
and ``celery -A proj worker`` know it as soon as this package is imported;
rail-tasks imports it at Django start-up through its plugin entry point.
Prefork children run tasks in their main thread: the kit's
:class:`~rail_tasks.engine.SignalInterrupts` stops them on cancel and at their
timeout, with the signal ``revoke(terminate=True)`` also sends.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from celery import Task, shared_task
from django.tasks import task_backends
from django.utils import timezone

from rail_tasks import RailBackend, Status, TaskTimeout
from rail_tasks.engine import SignalInterrupts, deliver, in_database_call, main_thread_attempt
from rail_tasks.engine import heartbeat as kit_heartbeat

__all__ = ["CANCEL_SIGNAL", "TASK_NAME", "RailCeleryTask", "delivery_worker_id", "run_execution_task"]

logger = logging.getLogger("rail_tasks.celery")

#: The Celery task name every rail-tasks message carries.
TASK_NAME = "rail_tasks.run_execution"
#: The signal ``revoke(terminate=True)`` sends to stop a running rail task (the kit's interrupt signal).
CANCEL_SIGNAL = "SIGUSR2"

#: Seconds early a hop may arrive and still count as due.
_HOP_SLACK = 0.5

_INTERRUPTS = SignalInterrupts(CANCEL_SIGNAL)
_INTERRUPTS.on_deferred = kit_heartbeat.poke
_soft_limit_installed: int | None = None
_previous_soft: Any = None


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


def _on_soft_time_limit(signum: int, frame: FrameType | None) -> None:
    """A Celery-wide soft time limit (``task_soft_time_limit``) also ends a rail task as :class:`TaskTimeout`."""
    current = main_thread_attempt()
    if current is None:
        if callable(_previous_soft):
            _previous_soft(signum, frame)  # a plain Celery task: Celery's SoftTimeLimitExceeded
        return
    if not current.in_user_code:
        return
    current.timeout_pending = True
    if in_database_call(frame):
        kit_heartbeat.poke()  # raised by the kit's interrupt right after the database call
        return
    raise TaskTimeout("Task ran past the Celery soft time limit")


def _install_soft_time_limit() -> None:
    global _soft_limit_installed, _previous_soft
    ident = threading.get_ident()
    if _soft_limit_installed == ident or threading.current_thread() is not threading.main_thread():
        return
    try:
        previous = signal.getsignal(signal.SIGUSR1)
        if previous is not _on_soft_time_limit:
            _previous_soft = previous
        signal.signal(signal.SIGUSR1, _on_soft_time_limit)
    except (ValueError, OSError) as exc:  # not the main thread of a pool child
        logger.debug("rail-tasks-celery: soft time limit handler not installed: %s", exc)
    _soft_limit_installed = ident


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
    _install_soft_time_limit()
    deliver(
        execution_id,
        worker_id=delivery_worker_id(str(request.id), request.hostname),
        lease_seconds=float(lease_seconds) if lease_seconds else None,
        heartbeat_seconds=float(heartbeat_seconds) if heartbeat_seconds else None,
        interrupts=_INTERRUPTS,
        redelivered=bool((request.delivery_info or {}).get("redelivered")),
    )
