"""Leases of the attempts a worker holds: renew them, read cancel requests, tell lost from finished.

A worker renews the lease of every attempt it holds every ``heartbeat_seconds``
(two statements for any number of attempts). An attempt whose renewal did not
take is either *finished* (its own outcome was recorded meanwhile: the heartbeat
raced the end of the task, nothing to report) or *lost* (the lease ran out and
the reaper recorded it, or another worker claimed the execution again): only a
lost attempt is reported, and its writes are rejected by the attempt fence anyway.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from rail_tasks.status import Status

__all__ = ["LeaseReport", "renew_leases"]

_WORKER_LOST = "rail_tasks.exceptions.WorkerLost"


@dataclass
class LeaseReport:
    """What one heartbeat found about the attempts it renewed."""

    #: Execution ids whose attempt was taken away (lease expired and reaped, or claimed again).
    lost: set[str] = field(default_factory=set)
    #: Execution ids whose attempt still runs and was asked to stop.
    cancel_requested: set[str] = field(default_factory=set)


def renew_leases(
    held: Sequence[tuple[Any, int]], lease_seconds: float | None, *, using: str | None = None
) -> LeaseReport:
    """Renew the lease of each ``(execution id, attempt)`` (when ``lease_seconds``) and report on them.

    :param held: the attempts this worker holds.
    :param lease_seconds: new lease length from now; ``None`` only reads
        cancel requests (engines without leases).
    :param using: database alias (the model's router by default).
    """
    from rail_tasks.models import TaskExecution

    report = LeaseReport()
    if not held:
        return report
    rows = TaskExecution.objects.using(using) if using else TaskExecution.objects.all()
    if lease_seconds:
        now = timezone.now()
        mine = Q()
        for pk, attempt in held:
            mine |= Q(pk=pk, attempts=attempt)
        rows.filter(mine, status=Status.RUNNING).update(
            heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds)
        )
    found = {
        str(pk): (status, attempts, cancel, exception_class)
        for pk, status, attempts, cancel, exception_class in rows.filter(pk__in=[pk for pk, _ in held]).values_list(
            "pk", "status", "attempts", "cancel_requested", "exception_class"
        )
    }
    for pk, attempt in held:
        row = found.get(str(pk))
        if row is None:
            continue  # finished and deleted (track_in_database=False), or cleaned up: nothing runs it now
        status, attempts, cancel, exception_class = row
        if attempts != attempt or (status != Status.RUNNING and exception_class == _WORKER_LOST):
            report.lost.add(str(pk))
        elif status == Status.RUNNING and cancel:
            report.cancel_requested.add(str(pk))
    return report
