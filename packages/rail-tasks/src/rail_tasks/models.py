"""The ``TaskExecution`` model: one row per enqueued task, and the state machine.

Every state transition is a conditional ``UPDATE`` (``WHERE status = ... AND
attempts = ...``) so two workers can never both claim one execution and a worker
whose lease was taken over cannot write over the newer attempt (fencing by
attempt number). Each transition method returns whether it took effect.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Self

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, router
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rail_tasks import statements
from rail_tasks.status import ACTIVE_STATUSES, FINISHED_STATUSES, READY_STATUSES, Status

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

__all__ = ["TaskExecution", "TaskExecutionQuerySet"]


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

    def claim(self, worker_id: str, lease_seconds: float | None = None, *, now: datetime | None = None) -> int:
        """Bulk :meth:`TaskExecution.claim`: every row of this queryset still ready becomes ``running``.

        Returns how many rows were claimed (the database worker claims the
        rows it has just locked this way, one attempt counted on each).
        ``now`` is written to ``heartbeat_at``, so the caller can read back
        exactly the rows of this claim.
        """
        return self.filter(status__in=READY_STATUSES).update(**_claim_values(worker_id, lease_seconds, now))

    def claim_and_fetch(
        self, worker_id: str, lease_seconds: float | None = None, *, now: datetime | None = None
    ) -> list[TaskExecution]:
        """Like :meth:`claim`, but return the claimed rows, highest priority first, then oldest.

        One statement (``UPDATE ... RETURNING``) where the database can return
        rows from an update (PostgreSQL, SQLite); elsewhere the claim is read
        back by its own timestamp. Engines that run executions by id claim
        this way, so a delivery costs one query before the task starts.
        """
        ready = self.filter(status__in=READY_STATUSES)
        values = _claim_values(worker_id, lease_seconds, now)
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
            values = _claim_values(worker_id, lease_seconds)
            now, lease_expires_at = values["heartbeat_at"], values["lease_expires_at"]
            return statements.claim_by_id(self.model, execution_id, worker_id, now, lease_expires_at, using=alias)
        claimed = self.using(alias).filter(pk=execution_id).claim_and_fetch(worker_id, lease_seconds)
        return claimed[0] if claimed else None

    def lease_expired(self, now: datetime | None = None) -> Self:
        """Running, but the worker's lease ran out (the worker is presumed lost)."""
        now = now or timezone.now()
        return self.filter(status=Status.RUNNING, lease_expires_at__lt=now)

    def expired(self, now: datetime | None = None) -> Self:
        """Finished and past ``expires_at`` (``result_ttl_seconds``)."""
        now = now or timezone.now()
        return self.finished().filter(expires_at__lt=now)

    def visible_to(self, user: AbstractBaseUser | AnonymousUser | None) -> Self:
        """Executions ``user`` may see: staff see all, others their own, anonymous none."""
        if user is None or not user.is_authenticated:
            return self.none()
        if getattr(user, "is_staff", False):
            return self
        return self.filter(owner_id=user.pk)


def _claim_values(worker_id: str, lease_seconds: float | None, now: datetime | None = None) -> dict[str, Any]:
    """The columns a claim writes: running, one more attempt, the worker and its lease."""
    now = now or timezone.now()
    return {
        "status": Status.RUNNING,
        "attempts": F("attempts") + 1,
        "worker_id": worker_id[:64],
        "started_at": Coalesce(F("started_at"), now),
        "heartbeat_at": now,
        "lease_expires_at": now + timedelta(seconds=lease_seconds) if lease_seconds else None,
        "cancel_requested": False,
    }


class TaskExecution(models.Model):
    """One execution of a task: what to run, where it is, and how it ended."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=255, db_index=True)
    task_path = models.CharField(_("task path"), max_length=255)
    backend = models.CharField(_("backend alias"), max_length=64, default="default")
    queue = models.CharField(_("queue"), max_length=64, default="default")
    priority = models.SmallIntegerField(_("priority"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)

    progress = models.PositiveSmallIntegerField(_("progress"), default=0)
    progress_message = models.CharField(_("progress message"), max_length=255, blank=True, default="")

    args = models.JSONField(_("args"), default=list, blank=True, encoder=DjangoJSONEncoder)
    kwargs = models.JSONField(_("kwargs"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    metadata = models.JSONField(
        _("metadata"), default=dict, blank=True, help_text=_("Plugin data attached at enqueue, e.g. trace context.")
    )
    result = models.JSONField(_("result"), null=True, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(_("error"), blank=True, default="")
    exception_class = models.CharField(_("exception class"), max_length=255, blank=True, default="")
    traceback = models.TextField(_("traceback"), blank=True, default="")

    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    max_retries = models.PositiveIntegerField(_("max retries"), default=0)
    retry_delay = models.FloatField(_("retry delay"), default=60)
    retry_backoff = models.BooleanField(_("retry backoff"), default=True)
    timeout = models.FloatField(_("timeout"), null=True, blank=True)
    track_progress = models.BooleanField(_("track progress"), default=True)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    run_after = models.DateTimeField(_("run after"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    worker_id = models.CharField(_("worker id"), max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(_("lease expires at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)

    objects = TaskExecutionQuerySet.as_manager()

    class Meta:
        verbose_name = _("task execution")
        verbose_name_plural = _("task executions")
        ordering = ("-created_at",)
        permissions = [
            ("cancel_taskexecution", _("Can cancel task execution")),
            ("retry_taskexecution", _("Can retry task execution")),
        ]
        indexes = [
            # The claim query: ready rows of a queue, highest priority first, then FIFO.
            models.Index(
                F("queue"),
                F("priority").desc(),
                F("created_at"),
                name="rail_tasks_ready_idx",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            # The claim query of a worker serving every queue.
            models.Index(
                F("priority").desc(),
                F("created_at"),
                name="rail_tasks_ready_any_idx",
                condition=Q(status__in=["pending", "retrying"]),
            ),
            # Lost workers: running rows whose lease ran out.
            models.Index(
                fields=["lease_expires_at"], name="rail_tasks_running_lease_idx", condition=Q(status="running")
            ),
            # "My tasks", newest first. Partial: most executions have no owner, and every
            # transition of a row would otherwise write a new entry here.
            models.Index(
                fields=["owner", "-created_at"], name="rail_tasks_owner_idx", condition=Q(owner__isnull=False)
            ),
            # Listing by status, newest first (admin, GraphQL `tasks`).
            models.Index(fields=["status", "-created_at"], name="rail_tasks_status_idx"),
            # cleanup_tasks: finished rows by age and expiry.
            models.Index(
                fields=["completed_at"],
                name="rail_tasks_finished_idx",
                condition=Q(status__in=["completed", "failed", "cancelled"]),
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="rail_tasks_progress_lte_100"),
            models.CheckConstraint(
                condition=Q(priority__gte=-100, priority__lte=100), name="rail_tasks_priority_range"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id}) {self.status}"

    # -- derived values -------------------------------------------------------

    @property
    def retry_count(self) -> int:
        """Retries so far: attempts after the first."""
        return max(self.attempts - 1, 0)

    @property
    def max_attempts(self) -> int:
        """The first attempt plus ``max_retries``."""
        return self.max_retries + 1

    @property
    def is_finished(self) -> bool:
        """Whether the execution has ended (completed, failed or cancelled)."""
        return self.status in FINISHED_STATUSES

    @property
    def duration(self) -> timedelta | None:
        """Time from first start to finish, when both are known."""
        if self.started_at and self.completed_at:
            return self.completed_at - self.started_at
        return None

    # -- state transitions (each one conditional UPDATE) ----------------------

    def _update(self, condition: Q, **values: Any) -> bool:
        """Apply ``values`` where ``condition`` still holds; refresh on success.

        Plain values are copied onto the instance; a read-back query is made
        only when a value is computed by the database (``F()``, ``Coalesce``).
        """
        updated = type(self).objects.filter(Q(pk=self.pk) & condition).update(**values)
        if updated:
            if any(hasattr(value, "resolve_expression") for value in values.values()):
                self.refresh_from_db()
            else:
                for name, value in values.items():
                    setattr(self, name, value)
        return bool(updated)

    def _update_attempt(self, attempt: int, **values: Any) -> bool:
        """Write ``values`` if ``attempt`` still runs this execution (the fence of every worker-side write).

        Plain values take the prebuilt statement (:mod:`rail_tasks.statements`);
        computed ones (``F()``) go through :meth:`_update`.
        """
        if any(hasattr(value, "resolve_expression") for value in values.values()):
            return self._update(self._running_attempt(attempt), **values)
        if not statements.update_running_attempt(self, attempt, values):
            return False
        for name, value in values.items():
            setattr(self, name, value)
        return True

    def claim(self, worker_id: str, lease_seconds: float | None = None) -> bool:
        """``pending|retrying -> running`` for ``worker_id``; counts one attempt.

        Returns ``False`` when another delivery or worker got there first.
        """
        claimed = type(self).objects.claim_by_id(self.pk, worker_id, lease_seconds)
        if claimed is None:
            return False
        for field in self._meta.concrete_fields:
            setattr(self, field.attname, getattr(claimed, field.attname))
        return True

    def _running_attempt(self, attempt: int) -> Q:
        return Q(status=Status.RUNNING, attempts=attempt)

    def renew_lease(self, attempt: int, lease_seconds: float) -> bool:
        """Extend the lease of the running ``attempt`` (heartbeat)."""
        now = timezone.now()
        values = {"heartbeat_at": now, "lease_expires_at": now + timedelta(seconds=lease_seconds)}
        # The instance is left alone: a heartbeat thread renews while another thread runs the task.
        return statements.update_running_attempt(self, attempt, values)

    def set_progress(self, attempt: int, progress: int, message: str | None) -> bool:
        """Record progress of the running ``attempt``; ``False`` if it no longer owns the row."""
        values: dict[str, Any] = {"progress": progress, "heartbeat_at": timezone.now()}
        if message is not None:
            values["progress_message"] = message[:255]
        return self._update_attempt(attempt, **values)

    def finish_completed(self, attempt: int, result: Any, expires_at: datetime | None) -> bool:
        """``running -> completed`` with ``result``, for the attempt that owns the row."""
        return self._update_attempt(
            attempt,
            status=Status.COMPLETED,
            result=result,
            progress=100,
            completed_at=timezone.now(),
            expires_at=expires_at,
            lease_expires_at=None,
            error="",
            exception_class="",
            traceback="",
        )

    def finish_failed(
        self,
        attempt: int | None,
        *,
        error: str,
        exception_class: str,
        traceback: str,
        expires_at: datetime | None,
    ) -> bool:
        """``running -> failed`` (or any active state when ``attempt`` is ``None``)."""
        values = {
            "status": Status.FAILED,
            "error": error,
            "exception_class": exception_class,
            "traceback": traceback,
            "completed_at": timezone.now(),
            "expires_at": expires_at,
            "lease_expires_at": None,
        }
        if attempt is None:
            return self._update(Q(status__in=ACTIVE_STATUSES), **values)
        return self._update_attempt(attempt, **values)

    def schedule_retry(
        self, attempt: int | None, *, run_after: datetime, error: str, exception_class: str, traceback: str
    ) -> bool:
        """``running -> retrying`` with the next attempt not before ``run_after``."""
        values = {
            "status": Status.RETRYING,
            "run_after": run_after,
            "error": error,
            "exception_class": exception_class,
            "traceback": traceback,
            "lease_expires_at": None,
            "worker_id": "",
        }
        if attempt is None:
            return self._update(Q(status=Status.RUNNING), **values)
        return self._update_attempt(attempt, **values)

    def finish_cancelled(self, attempt: int | None = None, expires_at: datetime | None = None) -> bool:
        """End the execution as cancelled.

        With ``attempt`` ``None`` only a waiting execution (pending or retrying)
        is cancelled; with an attempt, the running attempt that saw the request.
        """
        values = {
            "status": Status.CANCELLED,
            "completed_at": timezone.now(),
            "expires_at": expires_at,
            "lease_expires_at": None,
            "error": "Cancelled",
            "exception_class": "rail_tasks.exceptions.TaskCancelled",
        }
        if attempt is None:
            return self._update(Q(status__in=READY_STATUSES), **values)
        return self._update_attempt(attempt, **values)

    def request_cancel(self) -> bool:
        """Ask a running execution to stop at its next progress update."""
        return self._update(Q(status=Status.RUNNING), cancel_requested=True)

    def release(self, attempt: int) -> bool:
        """Hand a running attempt back to the queue without counting it (graceful shutdown)."""
        return self._update(
            self._running_attempt(attempt),
            status=Status.PENDING,
            attempts=F("attempts") - 1,
            worker_id="",
            lease_expires_at=None,
        )

    def reset_for_retry(self) -> bool:
        """``failed|cancelled -> pending``: run a finished execution again from scratch."""
        return self._update(
            Q(status__in=(Status.FAILED, Status.CANCELLED)),
            status=Status.PENDING,
            attempts=0,
            progress=0,
            progress_message="",
            result=None,
            error="",
            exception_class="",
            traceback="",
            started_at=None,
            completed_at=None,
            expires_at=None,
            run_after=None,
            cancel_requested=False,
            worker_id="",
        )
