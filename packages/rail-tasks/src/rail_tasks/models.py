"""The ``TaskExecution`` model: one row per enqueued task, and the state machine.

Every state transition is a conditional ``UPDATE`` (``WHERE status = ... AND
attempts = ...``) so two workers can never both claim one execution and a worker
whose lease was taken over cannot write over the newer attempt (fencing by
attempt number). Each transition method returns whether it took effect.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rail_tasks import statements
from rail_tasks.querysets import TaskExecutionQuerySet
from rail_tasks.status import ACTIVE_STATUSES, FINISHED_STATUSES, READY_STATUSES, Status

__all__ = ["TaskExecution", "TaskExecutionQuerySet"]


class TaskExecution(models.Model):
    """One execution of a task: what to run, where it is, and how it ended."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(_("name"), max_length=255, db_index=True)
    task_path = models.CharField(_("task path"), max_length=255)
    backend = models.CharField(_("backend alias"), max_length=64, default="default")
    engine = models.CharField(
        _("engine"),
        max_length=200,
        blank=True,
        default="",
        help_text=_("Class path of the backend the execution was enqueued for; only its workers run it."),
    )
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
    attempt_started_at = models.DateTimeField(
        _("attempt started at"),
        null=True,
        blank=True,
        help_text=_("When the current attempt's task function started; empty while claimed but not started."),
    )
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

    def _update_attempt(self, attempt: int | None, without_attempt: Q | None = None, **values: Any) -> bool:
        """Write ``values`` if ``attempt`` still runs this execution (the fence of every worker-side write).

        With ``attempt`` ``None``, where ``without_attempt`` holds instead. Plain
        values of an attempt take the prebuilt statement
        (:mod:`rail_tasks.statements`); the rest goes through :meth:`_update`.
        """
        if attempt is None:
            if without_attempt is None:
                raise ValueError("an attempt or a condition without one is needed")
            return self._update(without_attempt, **values)
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
        return self._update_attempt(
            attempt,
            Q(status__in=ACTIVE_STATUSES),
            status=Status.FAILED,
            error=error,
            exception_class=exception_class,
            traceback=traceback,
            completed_at=timezone.now(),
            expires_at=expires_at,
            lease_expires_at=None,
        )

    def schedule_retry(
        self, attempt: int | None, *, run_after: datetime, error: str, exception_class: str, traceback: str
    ) -> bool:
        """``running -> retrying`` with the next attempt not before ``run_after``."""
        return self._update_attempt(
            attempt,
            Q(status=Status.RUNNING),
            status=Status.RETRYING,
            run_after=run_after,
            error=error,
            exception_class=exception_class,
            traceback=traceback,
            lease_expires_at=None,
            attempt_started_at=None,
            worker_id="",
        )

    def finish_cancelled(self, attempt: int | None = None, expires_at: datetime | None = None) -> bool:
        """End the execution as cancelled.

        With ``attempt`` ``None`` only a waiting execution (pending or retrying)
        is cancelled; with an attempt, the running attempt that saw the request.
        """
        return self._update_attempt(
            attempt,
            Q(status__in=READY_STATUSES),
            status=Status.CANCELLED,
            completed_at=timezone.now(),
            expires_at=expires_at,
            lease_expires_at=None,
            error="Cancelled",
            exception_class="rail_tasks.exceptions.TaskCancelled",
        )

    def request_cancel(self) -> bool:
        """Ask a running execution to stop at its next progress update."""
        return self._update(Q(status=Status.RUNNING), cancel_requested=True)

    def release(self, attempt: int, *, unstarted_only: bool = False, run_after: datetime | None = None) -> bool:
        """Hand a running attempt back to the queue without counting it.

        For graceful shutdown, for claims whose task function never started
        (``unstarted_only``: only while no start was recorded, see
        :meth:`TaskExecutionQuerySet.mark_started`), and, with ``run_after``,
        for an execution that must not be claimed again before then (a worker
        that cannot import the task yet, after a deploy).
        """
        condition = self._running_attempt(attempt)
        if unstarted_only:
            condition &= Q(attempt_started_at__isnull=True)
        extra: dict[str, Any] = {} if run_after is None else {"run_after": run_after}
        return self._update(
            condition,
            status=Status.PENDING,
            attempts=F("attempts") - 1,
            worker_id="",
            lease_expires_at=None,
            attempt_started_at=None,
            **extra,
        )

    def reset_for_retry(self, *, metadata: dict[str, Any] | None = None) -> bool:
        """``failed|cancelled -> pending``: run a finished execution again from scratch.

        :param metadata: replaces ``metadata`` (what plugins attached to the new enqueue).
        """
        extra: dict[str, Any] = {} if metadata is None else {"metadata": metadata}
        return self._update(
            Q(status__in=(Status.FAILED, Status.CANCELLED)),
            **extra,
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
            attempt_started_at=None,
        )
