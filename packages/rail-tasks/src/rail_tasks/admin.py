"""Django admin for ``TaskExecution``: watch executions, cancel and retry them.

Rows are read-only (they change only through the lifecycle). Two actions go
through the runner, like every other surface: *Cancel* (waiting executions end
at once, running ones are asked to stop) needs the permission
``rail_tasks.cancel_taskexecution``, *Retry* (failed or cancelled executions run
again from a first attempt) needs ``rail_tasks.retry_taskexecution``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import Q
from django.tasks.exceptions import InvalidTaskBackend
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from rail_tasks.models import TaskExecution
from rail_tasks.permissions import may_view_all
from rail_tasks.runner import cancel_execution, retry_execution
from rail_tasks.status import FINISHED_STATUSES, Status

if TYPE_CHECKING:
    from django.db.models import QuerySet
    from django.http import HttpRequest

__all__ = ["TaskExecutionAdmin"]

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[TaskExecution]
else:  # ModelAdmin is generic only in the type stubs
    _ModelAdmin = admin.ModelAdmin

#: A cell's content on one line, cut with an ellipsis at its ``max-width``.
_CELL = "display:inline-block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;vertical-align:bottom;"

_STATUS_COLOURS = {
    Status.PENDING: "#79aec8",
    Status.RUNNING: "#417690",
    Status.RETRYING: "#e0a800",
    Status.COMPLETED: "#2e7d32",
    Status.FAILED: "#ba2121",
    Status.CANCELLED: "#777777",
}


@admin.register(TaskExecution)
class TaskExecutionAdmin(_ModelAdmin):
    """Executions listed newest first, filterable by status, queue and backend, searchable by name and id."""

    # One line per execution that fits beside the admin's sidebars at 1400 px: short cells that never
    # wrap, full values in tooltips (the backend is a filter, the owner a search, everything on the page).
    list_display = ("task_name", "status_label", "progress_bar", "queue_label", "created", "took", "short_id")
    list_filter = ("status", "queue", "backend")
    search_fields = ("name", "task_path", "owner__username")
    date_hierarchy = "created_at"
    list_select_related = ("owner",)
    list_per_page = 50
    actions = ("cancel_executions", "retry_executions")
    fieldsets = (
        (None, {"fields": ("id", "name", "task_path", "status_label", "progress_bar", "progress_message", "owner")}),
        (_("Where"), {"fields": ("backend", "engine", "queue", "priority", "worker_id")}),
        (
            _("Arguments and outcome"),
            {"fields": ("args", "kwargs", "result", "error", "exception_class", "traceback_text")},
        ),
        (
            _("Attempts"),
            {"fields": ("attempts", "max_retries", "retry_delay", "retry_backoff", "timeout", "cancel_requested")},
        ),
        (
            _("Times"),
            {
                "fields": (
                    "created_at",
                    "run_after",
                    "started_at",
                    "heartbeat_at",
                    "lease_expires_at",
                    "completed_at",
                    "expires_at",
                )
            },
        ),
        (_("Plugins"), {"classes": ("collapse",), "fields": ("metadata", "track_progress")}),
    )

    # -- read-only ---------------------------------------------------------------

    def get_readonly_fields(self, request: HttpRequest, obj: TaskExecution | None = None) -> list[str]:
        """Every field: executions change only through their lifecycle."""
        fields = [field.name for field in TaskExecution._meta.fields]
        return [*fields, "status_label", "progress_bar", "traceback_text"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        """Executions are created by enqueueing a task, never by hand."""
        return False

    def has_change_permission(self, request: HttpRequest, obj: TaskExecution | None = None) -> bool:
        """Nobody edits an execution; viewing needs the view permission."""
        return False

    def has_view_permission(self, request: HttpRequest, obj: TaskExecution | None = None) -> bool:
        """The view permission, as on every other surface (the change permission grants nothing here)."""
        return may_view_all(request.user)

    def get_changelist(self, request: HttpRequest, **kwargs: object) -> type[ChangeList]:
        """A changelist that never loads the large columns it does not show."""
        return _LightChangeList

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        """Whether the user may run the *Cancel* action."""
        return request.user.has_perm("rail_tasks.cancel_taskexecution")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        """Whether the user may run the *Retry* action."""
        return request.user.has_perm("rail_tasks.retry_taskexecution")

    # -- search ------------------------------------------------------------------

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[TaskExecution], search_term: str
    ) -> tuple[QuerySet[TaskExecution], bool]:
        """Search names and task paths; a full execution id (with or without dashes) matches that execution."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        try:
            execution_id = uuid.UUID(term)
        except ValueError:
            return results, may_have_duplicates
        return queryset.filter(Q(pk=execution_id) | Q(pk__in=results.values("pk"))), may_have_duplicates

    # -- columns -----------------------------------------------------------------

    @admin.display(description=_("task"), ordering="name")
    def task_name(self, obj: TaskExecution) -> SafeString:
        """The task's name, cut with an ellipsis past 200 px (the full name and path as a tooltip)."""
        return format_html('<span title="{}" style="{}max-width:200px">{}</span>', obj.task_path, _CELL, obj.name)

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, obj: TaskExecution) -> SafeString:
        """The status in its colour, with the attempt number once there was more than one."""
        colour = _STATUS_COLOURS.get(Status(obj.status), "#333333")
        label = format_html('<strong style="color: {}">{}</strong>', colour, obj.get_status_display())
        if obj.attempts > 1:
            label = format_html(
                '{} <span title="{}" style="color:#777">&middot; {}</span>',
                label,
                _("attempt %(attempt)d of %(most)d") % {"attempt": obj.attempts, "most": obj.max_attempts},
                obj.attempts,
            )
        return format_html('<span style="white-space:nowrap">{}</span>', label)

    @admin.display(description=_("queue"), ordering="queue")
    def queue_label(self, obj: TaskExecution) -> SafeString:
        """The queue, cut with an ellipsis past 110 px."""
        return format_html('<span title="{}" style="{}max-width:110px">{}</span>', obj.queue, _CELL, obj.queue)

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj: TaskExecution) -> SafeString:
        """``MM-DD HH:MM`` in the current time zone; the full time and the owner as a tooltip."""
        when = timezone.localtime(obj.created_at)
        title = f"{when:%Y-%m-%d %H:%M:%S %Z}" + (f" by {obj.owner}" if obj.owner_id else "")
        return format_html('<span title="{}" style="white-space:nowrap">{}</span>', title, f"{when:%m-%d %H:%M}")

    @admin.display(description=_("took"), ordering="completed_at")
    def took(self, obj: TaskExecution) -> SafeString:
        """How long a finished execution ran (its end time as a tooltip); a dash before it finished."""
        if obj.completed_at is None:
            return format_html("{}", "\u2013")
        duration = obj.duration
        seconds = duration.total_seconds() if duration is not None else 0.0
        text = f"{seconds:.1f}s" if seconds < 60 else f"{int(seconds // 60)}m {int(seconds % 60)}s"
        ended = timezone.localtime(obj.completed_at)
        return format_html('<span title="{}" style="white-space:nowrap">{}</span>', f"{ended:%Y-%m-%d %H:%M:%S}", text)

    @admin.display(description=_("id"), ordering="id")
    def short_id(self, obj: TaskExecution) -> SafeString:
        """The first 8 characters of the id (the full id as a tooltip; search takes the full id)."""
        return format_html('<code title="{}">{}</code>', obj.pk, str(obj.pk)[:8])

    @admin.display(description=_("traceback"))
    def traceback_text(self, obj: TaskExecution) -> SafeString:
        """The traceback as it was printed: indentation and carets kept, long lines wrapped."""
        if not obj.traceback:
            return format_html("{}", "-")
        return format_html(
            '<pre style="white-space:pre-wrap;margin:0;font-size:12px;max-height:40em;overflow:auto">{}</pre>',
            obj.traceback,
        )

    @admin.display(description=_("progress"), ordering="progress")
    def progress_bar(self, obj: TaskExecution) -> SafeString:
        """Progress as a bar with its percentage (and message as a tooltip)."""
        value = max(0, min(100, int(obj.progress)))
        colour = _STATUS_COLOURS.get(Status(obj.status), "#417690")
        return format_html(
            '<div class="rail-tasks-progress" title="{}" style="display:flex;align-items:center;gap:6px;'
            'white-space:nowrap"><div style="width:50px;height:10px;background:#e5e5e5;border-radius:3px;'
            'overflow:hidden;flex:none">'
            '<div role="progressbar" aria-valuenow="{}" aria-valuemin="0" aria-valuemax="100" '
            'style="width:{}%;height:100%;background:{}"></div></div><span>{}%</span></div>',
            obj.progress_message,
            value,
            value,
            colour,
            value,
        )

    # -- actions -----------------------------------------------------------------

    @admin.action(description=_("Cancel selected executions"), permissions=["cancel"])
    def cancel_executions(self, request: HttpRequest, queryset: QuerySet[TaskExecution]) -> None:
        """Cancel waiting executions at once and ask running ones to stop; finished ones are left alone."""
        cancelled = requested = untouched = 0
        for pk, status in queryset.values_list("pk", "status"):
            if status in FINISHED_STATUSES:
                untouched += 1
                continue
            execution = cancel_execution(pk)
            if execution.status == Status.CANCELLED:
                cancelled += 1
            elif execution.status == Status.RUNNING and execution.cancel_requested:
                requested += 1
            else:
                untouched += 1
        self._report(request, cancelled, requested, untouched, verb="cancelled")

    @admin.action(description=_("Retry selected executions"), permissions=["retry"])
    def retry_executions(self, request: HttpRequest, queryset: QuerySet[TaskExecution]) -> None:
        """Run failed or cancelled executions again from a first attempt; others are left alone."""
        retried = untouched = 0
        for pk, status in queryset.values_list("pk", "status"):
            if status not in (Status.FAILED, Status.CANCELLED):
                untouched += 1
                continue
            try:
                retry_execution(pk)
            except InvalidTaskBackend as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            retried += 1
        self._report(request, retried, 0, untouched, verb="retried")

    def _report(self, request: HttpRequest, done: int, requested: int, untouched: int, *, verb: str) -> None:
        if done:
            text = ngettext("%(count)d execution %(verb)s.", "%(count)d executions %(verb)s.", done)
            self.message_user(request, text % {"count": done, "verb": verb}, messages.SUCCESS)
        if requested:
            text = ngettext(
                "%(count)d running execution asked to stop.", "%(count)d running executions asked to stop.", requested
            )
            self.message_user(request, text % {"count": requested}, messages.INFO)
        if untouched:
            allowed = "waiting or running" if verb == "cancelled" else "failed or cancelled"
            text = ngettext(
                "%(count)d execution skipped (only %(allowed)s ones can be %(verb)s).",
                "%(count)d executions skipped (only %(allowed)s ones can be %(verb)s).",
                untouched,
            )
            self.message_user(request, text % {"count": untouched, "allowed": allowed, "verb": verb}, messages.WARNING)


#: Columns the changelist never shows: arguments and outcome can be megabytes per row.
LIST_DEFERRED_FIELDS = ("args", "kwargs", "result", "error", "traceback", "metadata")


class _LightChangeList(ChangeList):
    """The admin's changelist with :data:`LIST_DEFERRED_FIELDS` deferred."""

    def get_queryset(self, request: HttpRequest, exclude_parameters: object = None) -> QuerySet[TaskExecution]:
        """The usual changelist rows, without the large columns."""
        return super().get_queryset(request, exclude_parameters).defer(*LIST_DEFERRED_FIELDS)  # type: ignore[arg-type]
