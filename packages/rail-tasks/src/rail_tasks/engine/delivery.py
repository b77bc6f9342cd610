"""Running one delivered execution: what an engine's worker job calls.

:func:`deliver` is the whole of an engine's worker side. Given the id its
message carried, it

1. drops a redelivered message of an execution that waits for a later
   ``run_after`` (its own message is on its way);
2. starts this process's heartbeat (leases, cancel requests, hard timeouts)
   and prepares the engine's interrupt strategy;
3. keeps Django's database connections healthy around the run (as Django
   does around a request);
4. claims and runs the execution through :func:`rail_tasks.run_execution`;
5. settles a duplicate delivery: if the attempt holding the execution
   stopped renewing its lease, it is recorded lost so the retry rules apply
   at once instead of after the reaper's next pass.

:func:`fail_running_attempt` records a failure the engine noticed outside the
task (a hard time limit that ended the process, a lost child process).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from django.db import close_old_connections, connections
from django.utils import timezone

from rail_tasks.engine import heartbeat
from rail_tasks.engine.attempts import DeliveryOptions, delivery_options
from rail_tasks.engine.interrupts import Interrupts
from rail_tasks.runner import fail_execution, run_execution
from rail_tasks.status import READY_STATUSES, Status

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["deliver", "fail_running_attempt", "fresh_connections", "is_due"]

logger = logging.getLogger("rail_tasks.engine")

#: Seconds early a message may arrive and still count as due.
DUE_SLACK = 0.5


@contextmanager
def fresh_connections() -> Iterator[None]:
    """Django's request hygiene around one execution, without a health-check query per execution.

    Connections past ``CONN_MAX_AGE`` or left broken are closed before and
    after. ``CONN_HEALTH_CHECKS`` would add a ``SELECT 1`` before the claim;
    the claim itself is retried once on a dropped connection instead
    (:func:`rail_tasks.run_execution`).
    """
    close_old_connections()
    for connection in connections.all(initialized_only=True):
        connection.health_check_done = True  # type: ignore[attr-defined]  # not in the stubs
    try:
        yield
    finally:
        close_old_connections()


def is_due(execution_id: str | UUID) -> bool:
    """Whether the execution may start now (``False``: it waits for a later ``run_after``)."""
    from rail_tasks.models import TaskExecution

    row = TaskExecution.objects.filter(pk=execution_id).values_list("status", "run_after").first()
    if row is None:
        return True
    status, run_after = row
    if status not in READY_STATUSES or run_after is None:
        return True
    return bool(run_after <= timezone.now() + timedelta(seconds=DUE_SLACK))


def deliver(
    execution_id: str | UUID,
    *,
    worker_id: str,
    lease_seconds: float | None = None,
    heartbeat_seconds: float | None = None,
    interrupts: Interrupts | None = None,
    redelivered: bool = False,
) -> TaskExecution | None:
    """Run the execution an engine's message named; returns it, or ``None`` when there was nothing to run.

    :param worker_id: recorded on the claim; make it name the message (e.g.
        ``"<message id>@<host>"``) so :func:`fail_running_attempt` can find the attempt.
    :param lease_seconds: lease taken at claim and renewed by the heartbeat
        every ``heartbeat_seconds`` (a third of the lease by default); ``None``
        for none (the reaper cannot then tell a dead worker from a slow task).
    :param interrupts: how to stop the function on cancel or timeout
        (:class:`~rail_tasks.engine.SignalInterrupts` in process pools,
        :class:`~rail_tasks.engine.ThreadInterrupts` in threaded workers);
        ``None``: the function stops at its next ``update_progress``.
    :param redelivered: the broker says it delivered this message before.
    """
    with fresh_connections():
        if redelivered and not is_due(execution_id):
            return None
        if interrupts is not None:
            interrupts.install()
        if lease_seconds or interrupts is not None:
            heartbeat.ensure_started(heartbeat_seconds or (lease_seconds / 3 if lease_seconds else 10.0))
        with delivery_options(DeliveryOptions(interrupts=interrupts, lease_seconds=lease_seconds)):
            finished = run_execution(execution_id, worker_id=worker_id, lease_seconds=lease_seconds)
        if finished is None:
            _settle_duplicate(execution_id)
        return finished


def _settle_duplicate(execution_id: str | UUID) -> None:
    """A delivery found its execution claimed: if that attempt's lease ran out, record it lost now."""
    from rail_tasks.engine.reaper import reap_one

    reap_one(execution_id)


def fail_running_attempt(
    execution_id: str | UUID, error: BaseException, *, worker_prefix: str = "", retryable: bool = True
) -> TaskExecution | None:
    """Record ``error`` for the running attempt of ``execution_id`` whose ``worker_id`` starts ``worker_prefix``.

    For engines that notice a failure outside the task function: a hard time
    limit ended the process (:class:`~rail_tasks.TaskTimeout`), the process
    vanished (:class:`~rail_tasks.WorkerLost`). Nothing happens unless such an
    attempt still runs; the outcome hooks fire once, here.
    """
    from rail_tasks.models import TaskExecution

    rows = TaskExecution.objects.filter(pk=execution_id, status=Status.RUNNING)
    if worker_prefix:
        rows = rows.filter(worker_id__startswith=worker_prefix)
    attempt = rows.values_list("attempts", flat=True).first()
    if attempt is None:
        return None
    return fail_execution(execution_id, error, attempt=attempt, retryable=retryable)
