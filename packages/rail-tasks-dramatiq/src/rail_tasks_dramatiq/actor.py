"""The one Dramatiq actor: "run execution <id>" through the core.

:func:`run_execution` is declared on a worker's broker by :func:`serve`
(which ``rail_tasks_dramatiq.worker`` calls) with Dramatiq's own retries, time
limit and age limit off: the core retries, the kit enforces ``timeout``, and a
message must never be dropped for its age.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from django.conf import settings
from django.tasks import task_backends
from django.tasks.base import DEFAULT_TASK_QUEUE_NAME
from django.utils import timezone
from dramatiq import Broker

from rail_tasks.engine import ThreadInterrupts, deliver
from rail_tasks_dramatiq.middleware import RailMiddleware, current_message

__all__ = ["ACTOR_NAME", "ACTOR_OPTIONS", "run_execution", "serve"]

#: The actor name every rail-tasks message carries.
ACTOR_NAME = "rail_tasks.run_execution"

#: Seconds early a hop may arrive and still count as due.
_HOP_SLACK = 0.5

_interrupts = ThreadInterrupts()
_hostname = socket.gethostname()


def _never_retry(retries: int, exception: BaseException) -> bool:
    return False


#: Options of the actor, for the middleware that reads them (the core retries; the kit enforces ``timeout``).
ACTOR_OPTIONS: dict[str, Any] = {
    "max_retries": 0,
    "retry_when": _never_retry,
    "time_limit": float("inf"),
    "max_age": 0,
}


def _hop(execution_id: str, not_before: str) -> bool:
    """Send a long-delayed message on its next hop; ``True`` when it was not due yet."""
    from rail_tasks import RailBackend, Status, TaskExecution

    when = datetime.fromisoformat(not_before)
    if timezone.now() >= when - timedelta(seconds=_HOP_SLACK):
        return False
    execution = TaskExecution.objects.filter(pk=execution_id, status__in=(Status.PENDING, Status.RETRYING)).first()
    if execution is not None:
        backend = task_backends[execution.backend]
        if isinstance(backend, RailBackend):
            backend.submit(execution, run_after=when)
    return True


def run_execution(
    execution_id: str, lease: float | None = None, beat: float | None = None, not_before: str | None = None
) -> None:
    """Run rail-tasks execution ``execution_id`` (the body of every rail-tasks Dramatiq message)."""
    if not_before and _hop(execution_id, not_before):
        return
    message = current_message()
    message_id = message.message_id if message is not None else "local"
    deliver(
        execution_id,
        worker_id=f"{message_id}@{_hostname}"[:64],
        lease_seconds=lease,
        heartbeat_seconds=beat,
        interrupts=_interrupts,
        redelivered=bool(getattr(message, "redelivered", False)),
    )


def serve(aliases: Sequence[str] | None = None) -> Broker:
    """Declare the actor, its queues and :class:`RailMiddleware` on the broker of ``aliases``; make it current.

    :param aliases: the ``DramatiqBackend`` aliases this worker serves (default:
        ``RAIL_TASKS_DRAMATIQ_ALIASES``, comma-separated, else every one in ``TASKS``).
        They must share one broker: a Dramatiq worker consumes from one.
    """
    from rail_tasks_dramatiq.backend import DramatiqBackend

    found = [task_backends[alias] for alias in aliases or _aliases_from_env()]
    backends = [backend for backend in found if isinstance(backend, DramatiqBackend)]
    if not backends:
        raise RuntimeError("rail_tasks_dramatiq.worker: no DramatiqBackend alias in settings.TASKS to serve")
    broker = backends[0].broker
    strangers = [b.alias for b in backends if b.broker is not broker]
    if strangers:
        raise RuntimeError(
            f"TASKS aliases {[backends[0].alias, *strangers]} use different Dramatiq brokers; a worker consumes "
            "from one: start one worker per broker with RAIL_TASKS_DRAMATIQ_ALIASES=<alias,...>"
        )
    served = [b.alias for b in backends]
    broker.add_middleware(
        RailMiddleware(
            lambda: served,
            reap_interval=min(b.reap_interval for b in backends),
            resubmit_after=min(b.resubmit_after for b in backends),
        )
    )
    options = {key: value for key, value in ACTOR_OPTIONS.items() if key in broker.actor_options}
    default_queue = backends[0].dramatiq_queue(DEFAULT_TASK_QUEUE_NAME)
    dramatiq.actor(actor_name=ACTOR_NAME, queue_name=default_queue, broker=broker, **options)(run_execution)
    for backend in backends:
        for queue in sorted(backend.queues | {DEFAULT_TASK_QUEUE_NAME}):
            broker.declare_queue(backend.dramatiq_queue(queue))
    dramatiq.set_broker(broker)
    return broker


def _aliases_from_env() -> list[str]:
    import os

    from rail_tasks_dramatiq.backend import DramatiqBackend

    named = [a.strip() for a in os.environ.get("RAIL_TASKS_DRAMATIQ_ALIASES", "").split(",") if a.strip()]
    if named:
        return named
    return [alias for alias in getattr(settings, "TASKS", {}) if isinstance(task_backends[alias], DramatiqBackend)]
