"""Spans: ``send <queue>`` at enqueue, ``process <queue>`` around each attempt, and their events.

The shape of one execution's trace (docs/otel.md has a real one)::

    <the current span at enqueue: a request, a GraphQL mutation, a task>
    └── send <queue>                 PRODUCER, ended once the execution row exists
        └── process <queue>          CONSUMER, one per attempt, parented on and linked to ``send``
              events: rail_tasks.progress (throttled), rail_tasks.retry_scheduled, rail_tasks.cancelled
              status ERROR with the exception when the attempt failed

A manual retry's ``send`` span is a child of the span current where the
retry was asked for (a new root, so a new trace, when there is none) and
links to the original ``send``. The spans come from the global tracer
provider, so without an SDK they are no-op spans.
"""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

from django.utils import timezone
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from rail_tasks_otel import metrics, propagation
from rail_tasks_otel.__about__ import __version__
from rail_tasks_otel.attributes import (
    ATTEMPT,
    BACKEND,
    DESTINATION,
    ERROR_TYPE,
    EVENT_CANCEL_REQUESTED,
    EVENT_CANCELLED,
    EVENT_PROGRESS,
    EVENT_RETRY_SCHEDULED,
    MANUAL_RETRY,
    MESSAGE_ID,
    OPERATION_NAME,
    OPERATION_TYPE,
    OUTCOME,
    PROGRESS,
    PROGRESS_MESSAGE,
    RECORDED_OUTSIDE,
    RETRY_DELAY,
    RETRY_NEXT_ATTEMPT,
    SYSTEM,
    SYSTEM_NAME,
    TASK_NAME,
    WILL_RETRY,
    error_type,
    execution_attributes,
)

if TYPE_CHECKING:
    from django.tasks import Task
    from opentelemetry.trace import Span

    from rail_tasks import TaskExecution

__all__ = [
    "MAX_PROGRESS_EVENTS",
    "PROGRESS_EVENT_INTERVAL",
    "AttemptSpan",
    "attempt_span",
    "cancel_requested",
    "end_producer",
    "outcome",
    "progress",
    "start_producer",
]

#: Seconds between two progress events on one attempt's span (the first and 100 % are always recorded).
PROGRESS_EVENT_INTERVAL: Final = 1.0
#: Progress events on one attempt's span at most (100 % is recorded even past it).
MAX_PROGRESS_EVENTS: Final = 50

_tracer = trace.get_tracer("rail_tasks_otel", __version__)

#: The producer span started by ``rail_tasks_enqueue_metadata``, ended by ``rail_tasks_enqueue``.
_pending: ContextVar[tuple[Span, dict[str, str], str] | None] = ContextVar("rail_tasks_otel_pending_send", default=None)
#: Attempts running in this process, by execution id.
_active: dict[str, AttemptSpan] = {}
_active_lock = threading.Lock()


# -- enqueue (web process) ----------------------------------------------------------


def start_producer(task: Task[..., Any], retry_of: TaskExecution | None) -> dict[str, str]:
    """Start the ``send`` span of an enqueue and return its propagation headers.

    The span ends in :func:`end_producer` once the row exists (its id is the
    message id). A manual retry links to the span that created ``retry_of``
    and keeps its queue and backend (the task loaded again for it has its defaults).
    """
    queue = retry_of.queue if retry_of is not None else task.queue_name
    attributes: dict[str, Any] = {
        SYSTEM: SYSTEM_NAME,
        OPERATION_TYPE: "send",
        OPERATION_NAME: "send",
        DESTINATION: queue,
        TASK_NAME: retry_of.name if retry_of is not None else task.name,
        BACKEND: retry_of.backend if retry_of is not None else task.backend,
    }
    links: list[Link] = []
    if retry_of is not None:
        attributes[MANUAL_RETRY] = True
        original = propagation.span_context_of(propagation.creation_context(retry_of))
        if original is not None:
            links.append(Link(original, {MANUAL_RETRY: True}))
    span = _tracer.start_span(f"send {queue}", kind=SpanKind.PRODUCER, attributes=attributes, links=links)
    carrier = propagation.inject(span)
    # A span whose enqueue never reached its INSERT (validation failed) is replaced here and never exported.
    _pending.set((span, carrier, attributes[TASK_NAME]) if span.is_recording() else None)
    return carrier


def end_producer(execution: TaskExecution) -> None:
    """End the ``send`` span of ``execution``'s enqueue, now that the row and its id exist."""
    pending = _pending.get()
    if pending is None:
        return
    _pending.set(None)
    span, carrier, task_name = pending
    if propagation.carrier_of(execution) != carrier:
        return  # not this execution's span: its enqueue failed before the INSERT
    span.set_attribute(MESSAGE_ID, str(execution.id))
    if execution.name != task_name:  # a rail ``name=`` option that differs from Django's task name
        span.set_attribute(TASK_NAME, execution.name)
    span.end()


def cancel_requested(execution: TaskExecution) -> None:
    """Record a cancel request on the current span (or on a short ``cancel`` span when there is none)."""
    attributes = {MESSAGE_ID: str(execution.id), TASK_NAME: execution.name, DESTINATION: execution.queue}
    current = trace.get_current_span()
    if current.is_recording():
        current.add_event(EVENT_CANCEL_REQUESTED, attributes)
        return
    created_by = propagation.span_context_of(propagation.creation_context(execution))
    links = [Link(created_by)] if created_by is not None else []
    with _tracer.start_as_current_span(f"cancel {execution.queue}", links=links, attributes=attributes) as span:
        span.add_event(EVENT_CANCEL_REQUESTED, attributes)


# -- one attempt (worker) -----------------------------------------------------------


class AttemptSpan(AbstractContextManager["AttemptSpan"]):
    """The ``process`` span of one attempt, current while the task runs; the outcome lands on it."""

    def __init__(self, execution: TaskExecution) -> None:
        self.execution = execution
        self.key = str(execution.id)
        self.span: Span = trace.INVALID_SPAN
        self.started = 0.0
        self.outcome: str | None = None
        self.progress_events = 0
        self.last_progress_event = 0.0
        self._token: object | None = None
        self._metrics = False

    def __enter__(self) -> AttemptSpan:
        execution = self.execution
        parent = propagation.creation_context(execution)
        created_by = propagation.span_context_of(parent)
        attributes = execution_attributes(execution, "process")
        self.span = _tracer.start_span(
            f"process {execution.queue}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={**(attributes or {}), ATTEMPT: execution.attempts},
            links=[Link(created_by)] if created_by is not None else None,
        )
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        self.started = time.monotonic()
        with _active_lock:
            _active[self.key] = self
        self._metrics = metrics.enabled()
        if self._metrics:
            metrics.record_running(execution, 1)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with _active_lock:
            if _active.get(self.key) is self:
                del _active[self.key]
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        if self.outcome is None and exc is not None and self.span.is_recording():
            # The attempt ended without a recorded outcome (the database failed under the runner).
            self.span.record_exception(exc)
            self.span.set_status(Status(StatusCode.ERROR, _describe(exc)))
            self.span.set_attribute(ERROR_TYPE, error_type(exc))
        self.span.end()
        if self._metrics:
            metrics.record_running(self.execution, -1)

    def elapsed(self) -> float:
        """Seconds since the attempt's span started."""
        return time.monotonic() - self.started


def attempt_span(execution: TaskExecution) -> AttemptSpan:
    """The context manager ``rail_tasks_execution_context`` returns."""
    return AttemptSpan(execution)


def _running(execution: TaskExecution) -> AttemptSpan | None:
    return _active.get(str(execution.id))


def progress(execution: TaskExecution, value: int, message: str | None) -> None:
    """Add a (throttled) progress event to the running attempt's span."""
    attempt = _running(execution)
    if attempt is None or not attempt.span.is_recording():
        return
    now = time.monotonic()
    due = attempt.progress_events == 0 or now - attempt.last_progress_event >= PROGRESS_EVENT_INTERVAL
    if value < 100 and (not due or attempt.progress_events >= MAX_PROGRESS_EVENTS):
        return
    attributes: dict[str, Any] = {PROGRESS: value}
    if message:
        attributes[PROGRESS_MESSAGE] = message
    attempt.span.add_event(EVENT_PROGRESS, attributes)
    attempt.progress_events += 1
    attempt.last_progress_event = now


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}"[:500] if text else type(error).__name__


def _apply_outcome(span: Span, execution: TaskExecution, name: str, error: BaseException | None) -> None:
    span.set_attribute(OUTCOME, name)
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, _describe(error)))
        span.set_attribute(ERROR_TYPE, error_type(error))
        span.set_attribute(WILL_RETRY, name == "retrying")
    if name == "retrying":
        delay = (execution.run_after - timezone.now()).total_seconds() if execution.run_after else 0.0
        span.add_event(
            EVENT_RETRY_SCHEDULED, {RETRY_DELAY: max(delay, 0.0), RETRY_NEXT_ATTEMPT: execution.attempts + 1}
        )
    elif name == "cancelled":
        span.add_event(EVENT_CANCELLED)


def _started_at(execution: TaskExecution) -> datetime | None:
    started: datetime | None = execution.attempt_started_at or execution.started_at
    return started


def outcome(execution: TaskExecution, name: str, error: BaseException | None = None) -> None:
    """Put an attempt's outcome (``completed``, ``retrying``, ``failed``, ``cancelled``) on its span.

    Inside the attempt's context, on its ``process`` span. Recorded by another
    process (a reaper that found the worker gone, an engine that ended the
    attempt's process), on a ``process`` span made after the fact from the
    attempt's start to now. For an execution cancelled before it ever
    started, as an event on the current span.
    """
    attempt = _running(execution)
    duration: float | None = None
    if attempt is not None:
        attempt.outcome = name
        duration = attempt.elapsed()
        if attempt.span.is_recording():
            _apply_outcome(attempt.span, execution, name, error)
    else:
        started_at = _started_at(execution) if execution.attempts else None
        if started_at is not None:
            duration = max((timezone.now() - started_at).total_seconds(), 0.0)
            _after_the_fact(execution, name, error, started_at)
        elif name == "cancelled":
            current = trace.get_current_span()
            if current.is_recording():
                current.add_event(EVENT_CANCELLED, {MESSAGE_ID: str(execution.id), TASK_NAME: execution.name})
    if metrics.enabled():
        metrics.record_finished(execution, name, duration)


def _after_the_fact(execution: TaskExecution, name: str, error: BaseException | None, started_at: datetime) -> None:
    parent = propagation.creation_context(execution)
    created_by = propagation.span_context_of(parent)
    attributes = execution_attributes(execution, "process")
    span = _tracer.start_span(
        f"process {execution.queue}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={**(attributes or {}), ATTEMPT: execution.attempts, RECORDED_OUTSIDE: True},
        links=[Link(created_by)] if created_by is not None else None,
        start_time=int(started_at.timestamp() * 1e9),
    )
    if span.is_recording():
        _apply_outcome(span, execution, name, error)
    span.end()
