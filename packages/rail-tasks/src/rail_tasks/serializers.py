"""The JSON shape of an execution, shared by the REST view and other surfaces."""

from __future__ import annotations

from typing import Any

from rail_tasks.models import TaskExecution
from rail_tasks.permissions import may_see_details, shown_error, shown_traceback

__all__ = ["execution_to_dict"]


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def execution_to_dict(execution: TaskExecution, viewer: Any = None) -> dict[str, Any]:
    """Seed 001's REST shape as ``viewer`` may see it: id, name, status, progress, message, result, error, times.

    ``error`` is what :func:`rail_tasks.permissions.shown_error` shows ``viewer``
    (the raw message only with the view permission), ``exception_class`` the
    failure's class; ``traceback`` is added only for viewers with the view
    permission. Pass ``request.user`` as ``viewer``; without one, nothing private
    is shown.
    """
    data: dict[str, Any] = {
        "id": str(execution.id),
        "name": execution.name,
        "status": execution.status,
        "progress": execution.progress,
        "progress_message": execution.progress_message,
        "result": execution.result,
        "error": shown_error(viewer, execution),
        "exception_class": execution.exception_class or None,
        "retry_count": execution.retry_count,
        "queue": execution.queue,
        "created_at": _iso(execution.created_at),
        "started_at": _iso(execution.started_at),
        "completed_at": _iso(execution.completed_at),
    }
    if may_see_details(viewer, execution):
        data["traceback"] = shown_traceback(viewer, execution)
    return data
