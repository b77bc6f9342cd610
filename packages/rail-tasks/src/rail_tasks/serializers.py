"""The JSON shape of an execution, shared by the REST view and other surfaces."""

from __future__ import annotations

from typing import Any

from rail_tasks.models import TaskExecution

__all__ = ["execution_to_dict"]


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def execution_to_dict(execution: TaskExecution, *, include_traceback: bool = False) -> dict[str, Any]:
    """Seed 001's REST shape: id, name, status, progress, message, result, error, timestamps.

    ``traceback`` is added only when ``include_traceback`` (staff).
    """
    data: dict[str, Any] = {
        "id": str(execution.id),
        "name": execution.name,
        "status": execution.status,
        "progress": execution.progress,
        "progress_message": execution.progress_message,
        "result": execution.result,
        "error": execution.error or None,
        "retry_count": execution.retry_count,
        "queue": execution.queue,
        "created_at": _iso(execution.created_at),
        "started_at": _iso(execution.started_at),
        "completed_at": _iso(execution.completed_at),
    }
    if include_traceback:
        data["traceback"] = execution.traceback or None
    return data
