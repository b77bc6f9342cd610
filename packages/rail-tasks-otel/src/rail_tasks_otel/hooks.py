"""rail-tasks plugin hooks of rail-tasks-otel (entry point ``otel`` in the ``rail_tasks`` group).

Only registers: the spans are made in :mod:`rail_tasks_otel.tracing`, the
metrics in :mod:`rail_tasks_otel.metrics`.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from rail_tasks import hookimpl
from rail_tasks_otel import metrics, tracing
from rail_tasks_otel.flushing import flush
from rail_tasks_otel.propagation import METADATA_KEY

if TYPE_CHECKING:
    from django.tasks import Task

    from rail_tasks import TaskExecution


@hookimpl
def rail_tasks_enqueue_metadata(task: Task[..., Any], retry_of: TaskExecution | None) -> dict[str, Any] | None:
    """Start the ``send`` span and attach its context (and, with metrics, the enqueue time)."""
    carrier = tracing.start_producer(task, retry_of)
    section: dict[str, Any] = {}
    if carrier:
        section["context"] = carrier
    if metrics.enabled():
        section["enqueued_at"] = time.time()
    if not section and retry_of is None:
        return None
    # On a manual retry the section is replaced even when empty, so the old trace is not continued.
    return {METADATA_KEY: section}


@hookimpl
def rail_tasks_enqueue(execution: TaskExecution) -> None:
    """End the ``send`` span with the execution id; count the enqueue."""
    tracing.end_producer(execution)
    if metrics.enabled():
        metrics.record_enqueued(execution)


@hookimpl
def rail_tasks_start(execution: TaskExecution) -> None:
    """Count the attempt and record its queue wait."""
    if metrics.enabled():
        metrics.record_started(execution)


@hookimpl
def rail_tasks_execution_context(execution: TaskExecution) -> AbstractContextManager[Any] | None:
    """The attempt's ``process`` span, current while the task runs."""
    return tracing.attempt_span(execution)


@hookimpl
def rail_tasks_progress(execution: TaskExecution, progress: int, message: str | None) -> None:
    """A (throttled) progress event on the attempt's span."""
    tracing.progress(execution, progress, message)


@hookimpl
def rail_tasks_complete(execution: TaskExecution) -> None:
    """The attempt completed."""
    tracing.outcome(execution, "completed")


@hookimpl
def rail_tasks_fail(execution: TaskExecution, error: BaseException, will_retry: bool) -> None:
    """The attempt failed: ERROR status, the exception, and a retry event when one follows."""
    tracing.outcome(execution, "retrying" if will_retry else "failed", error)


@hookimpl
def rail_tasks_cancel(execution: TaskExecution) -> None:
    """The execution was cancelled."""
    tracing.outcome(execution, "cancelled")


@hookimpl
def rail_tasks_cancel_requested(execution: TaskExecution) -> None:
    """A cancel request, as an event on the asking request's span."""
    tracing.cancel_requested(execution)


@hookimpl
def rail_tasks_worker_start(worker_id: str) -> None:
    """Name this process in the running-executions metric."""
    metrics.set_worker_id(worker_id)


@hookimpl
def rail_tasks_worker_stop() -> None:
    """Flush spans and metrics before the process exits."""
    flush()
