"""Remove finished executions: older than a number of days, or past their ``expires_at``.

:func:`cleanup_executions` is what ``manage.py cleanup_tasks`` runs (and what a
periodic job can call). Only finished rows (completed, failed, cancelled) are
ever deleted, in batches, each batch re-checking the status, so an execution
that is retried while the cleanup runs is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from rail_tasks.models import TaskExecution, TaskExecutionQuerySet

__all__ = ["CleanupReport", "cleanup_executions", "cleanup_queryset"]


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """How many executions a cleanup removed (or would remove, in a dry run)."""

    #: Finished before the ``days`` cutoff (by ``completed_at``).
    old: int
    #: Past their ``expires_at`` (``result_ttl_seconds``) but not older than the cutoff.
    expired: int
    #: Whether nothing was deleted.
    dry_run: bool

    @property
    def total(self) -> int:
        """All executions concerned."""
        return self.old + self.expired


def _old(days: float | None, now: datetime) -> Q:
    return Q(completed_at__lt=now - timedelta(days=days)) if days is not None else Q(pk__in=[])


def cleanup_queryset(*, days: float | None = None, now: datetime | None = None) -> TaskExecutionQuerySet:
    """Finished executions that a cleanup with these arguments deletes.

    :param days: also delete finished executions completed more than ``days``
        days ago; ``None`` deletes only expired ones.
    :param now: the reference time (``timezone.now()`` by default).
    """
    now = now or timezone.now()
    return TaskExecution.objects.finished().filter(_old(days, now) | Q(expires_at__lt=now))


def cleanup_executions(
    *,
    days: float | None = None,
    dry_run: bool = False,
    batch_size: int = 1000,
    now: datetime | None = None,
) -> CleanupReport:
    """Delete finished executions older than ``days`` days, plus those past ``expires_at``.

    :param days: age cutoff by ``completed_at``; ``None`` deletes only expired rows.
    :param dry_run: count, delete nothing.
    :param batch_size: rows per ``DELETE`` (keeps each statement and lock short).
    :param now: the reference time (``timezone.now()`` by default).
    :returns: the counts, split into old and (only) expired executions.
    """
    if days is not None and days < 0:
        raise ValueError("days cannot be negative")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    old = _old(days, now)
    doomed = cleanup_queryset(days=days, now=now)
    if dry_run:
        return CleanupReport(old=doomed.filter(old).count(), expired=doomed.exclude(old).count(), dry_run=True)
    deleted_old = deleted_expired = 0
    while True:
        batch = list(doomed.order_by().values_list("pk", flat=True)[:batch_size])
        if not batch:
            break
        rows = cleanup_queryset(days=days, now=now).filter(pk__in=batch)  # re-checked: still finished
        old_in_batch = rows.filter(old).count()
        deleted, _ = rows.delete()
        deleted_old += min(old_in_batch, deleted)
        deleted_expired += max(deleted - old_in_batch, 0)
        if len(batch) < batch_size:
            break
    return CleanupReport(old=deleted_old, expired=deleted_expired, dry_run=False)
