"""``TaskExecutionQuerySet``: named filters for the states of an execution, and the claims.

A claim is a conditional ``UPDATE`` (``pending|retrying -> running``, one more
attempt), so two workers can never both claim one execution.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from django.db import connections, models, router
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from rail_tasks import statements
from rail_tasks.permissions import may_view_all
from rail_tasks.status import ACTIVE_STATUSES, FINISHED_STATUSES, READY_STATUSES, Status

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from rail_tasks.models import TaskExecution

__all__ = ["TaskExecutionQuerySet"]


class TaskExecutionQuerySet(models.QuerySet["TaskExecution"]):
    """Named filters for the states of an execution."""

    def pending(self) -> Self:
        """Enqueued, never started."""
        return self.filter(status=Status.PENDING)

    def running(self) -> Self:
        """Claimed by a worker right now."""
        return self.filter(status=Status.RUNNING)

    def retrying(self) -> Self:
        """Failed an attempt and waiting for the next."""
        return self.filter(status=Status.RETRYING)

    def ready(self, now: datetime | None = None) -> Self:
        """Claimable now: pending or retrying, and past ``run_after``."""
        now = now or timezone.now()
        return self.filter(status__in=READY_STATUSES).filter(Q(run_after__isnull=True) | Q(run_after__lte=now))

    def active(self) -> Self:
        """Not finished yet."""
        return self.filter(status__in=ACTIVE_STATUSES)

    def finished(self) -> Self:
        """Completed, failed or cancelled."""
        return self.filter(status__in=FINISHED_STATUSES)

    def completed(self) -> Self:
        """Finished successfully."""
        return self.filter(status=Status.COMPLETED)

    def failed(self) -> Self:
        """Failed after its last attempt."""
        return self.filter(status=Status.FAILED)

    def cancelled(self) -> Self:
        """Cancelled before it finished."""
        return self.filter(status=Status.CANCELLED)

    def claim(
        self,
        worker_id: str,
        lease_seconds: float | None = None,
        *,
        now: datetime | None = None,
        started: bool = True,
    ) -> int:
        """Bulk :meth:`TaskExecution.claim`: every row of this queryset still ready becomes ``running``.

        Returns how many rows were claimed (one attempt counted on each).
        ``now`` is written to ``heartbeat_at``, so the caller can read back
        exactly the rows of this claim. With ``started=False`` the attempts
        are claimed ahead of running (the database worker's prefetch): until
        :meth:`mark_started` records that their task function started, a
        crash of the worker hands them back without cost.
        """
        values = _claim_values(worker_id, lease_seconds, now, started=started)
        return self.filter(status__in=READY_STATUSES).update(**values)

    def claim_and_fetch(
        self,
        worker_id: str,
        lease_seconds: float | None = None,
        *,
        now: datetime | None = None,
        started: bool = True,
    ) -> list[TaskExecution]:
        """Like :meth:`claim`, but return the claimed rows, highest priority first, then oldest.

        One statement (``UPDATE ... RETURNING``) where the database can return
        rows from an update (PostgreSQL, SQLite); elsewhere the claim is read
        back by its own timestamp. Engines that run executions by id claim
        this way, so a delivery costs one query before the task starts.
        """
        ready = self.filter(status__in=READY_STATUSES)
        values = _claim_values(worker_id, lease_seconds, now, started=started)
        model = self.model
        if connections[ready.db].features.can_return_rows_from_update:
            meta = model._meta
            fields = list(meta.concrete_fields)
            update = [(meta.get_field(name), None, value) for name, value in values.items()]
            # QuerySet._update(): update() with field objects and RETURNING (Django >= 6.0; not in the stubs).
            rows = ready._update(update, returning_fields=fields)  # type: ignore[attr-defined]
            names = [field.attname for field in fields]
            claimed = [model.from_db(ready.db, names, row) for row in rows]
        else:
            if not ready.update(**values):
                return []
            stamp = values["heartbeat_at"]
            mine = model._default_manager.using(ready.db).filter(
                status=Status.RUNNING, worker_id=values["worker_id"], heartbeat_at=stamp
            )
            claimed = list(mine)
        claimed.sort(key=lambda row: (-row.priority, row.created_at))
        return claimed

    def claim_by_id(
        self, execution_id: Any, worker_id: str, lease_seconds: float | None = None
    ) -> TaskExecution | None:
        """Claim the execution ``execution_id`` if it is ready; return it claimed, else ``None``.

        What an engine's delivery does first. Where the database returns rows
        from an update, this is one ``UPDATE ... RETURNING`` whose SQL is built
        once per process (:mod:`rail_tasks.statements`); elsewhere it is
        :meth:`claim_and_fetch` on that one row.
        """
        # The database QuerySet.update() would write to (these attributes are not in the stubs).
        alias = self._db or router.db_for_write(self.model, **self._hints)  # type: ignore[attr-defined]
        if connections[alias].features.can_return_rows_from_update:
            now = timezone.now()
            lease_expires_at = _lease_expires_at(now, lease_seconds)
            return statements.claim_by_id(self.model, execution_id, worker_id, now, lease_expires_at, using=alias)
        claimed = self.using(alias).filter(pk=execution_id).claim_and_fetch(worker_id, lease_seconds)
        return claimed[0] if claimed else None

    def mark_started(self, held: Iterable[tuple[Any, int]], *, now: datetime | None = None) -> int:
        """Record that the task function of each ``(execution id, attempt)`` started (one ``UPDATE``).

        For engines that claim ahead of running (:meth:`claim` with
        ``started=False``); an attempt counts once it started. Returns how many
        rows were marked.
        """
        condition = Q()
        for pk, attempt in held:
            condition |= Q(pk=pk, attempts=attempt)
        if not condition:
            return 0
        rows = self.filter(condition, status=Status.RUNNING, attempt_started_at__isnull=True)
        return rows.update(attempt_started_at=now or timezone.now())

    def lease_expired(self, now: datetime | None = None) -> Self:
        """Running, but the worker's lease ran out (the worker is presumed lost)."""
        now = now or timezone.now()
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=now)

    def expired(self, now: datetime | None = None) -> Self:
        """Finished and past ``expires_at`` (``result_ttl_seconds``)."""
        now = now or timezone.now()
        return self.finished().filter(expires_at__lt=now)

    def visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> Self:
        """Executions ``user`` may see (:mod:`rail_tasks.permissions`): everything with the view
        permission (superusers), else their own; anonymous and inactive users none. Staff alone: their own."""
        if user is None or not user.is_authenticated or not getattr(user, "is_active", True):
            return self.none()
        if may_view_all(user):
            return self
        return self.filter(owner_id=user.pk)


def _claim_values(
    worker_id: str, lease_seconds: float | None, now: datetime | None = None, *, started: bool = True
) -> dict[str, Any]:
    """The columns a claim writes: running, one more attempt, the worker and its lease."""
    now = now or timezone.now()
    return {
        "status": Status.RUNNING,
        "attempts": F("attempts") + 1,
        "worker_id": worker_id[:64],
        "started_at": Coalesce(F("started_at"), now),
        "attempt_started_at": now if started else None,
        "heartbeat_at": now,
        "lease_expires_at": _lease_expires_at(now, lease_seconds),
        "cancel_requested": False,
    }


def _lease_expires_at(now: datetime, lease_seconds: float | None) -> datetime | None:
    """When a lease taken at ``now`` runs out (``None``: no lease)."""
    return now + timedelta(seconds=lease_seconds) if lease_seconds else None
