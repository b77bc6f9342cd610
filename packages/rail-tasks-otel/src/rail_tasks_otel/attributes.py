"""Attribute, event and span names: OpenTelemetry's messaging conventions plus rail-tasks' own.

The ``messaging.*`` names follow the messaging semantic conventions (spans,
v1.27 and later: ``messaging.operation.type``/``.name``); ``error.type`` is
the stable error attribute. They are written out here rather than imported
from ``opentelemetry-semantic-conventions``, whose messaging module is still
incubating (a private path). Everything rail-specific is under ``rail_tasks.``.
docs/otel.md lists them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from opentelemetry.util.types import Attributes

    from rail_tasks import TaskExecution

__all__ = [
    "ATTEMPT",
    "BACKEND",
    "DESTINATION",
    "ERROR_TYPE",
    "EVENT_CANCELLED",
    "EVENT_CANCEL_REQUESTED",
    "EVENT_PROGRESS",
    "EVENT_RETRY_SCHEDULED",
    "MANUAL_RETRY",
    "MESSAGE_ID",
    "OPERATION_NAME",
    "OPERATION_TYPE",
    "OUTCOME",
    "PROGRESS",
    "PROGRESS_MESSAGE",
    "RECORDED_OUTSIDE",
    "RETRY_DELAY",
    "RETRY_NEXT_ATTEMPT",
    "SYSTEM",
    "SYSTEM_NAME",
    "TASK_NAME",
    "WILL_RETRY",
    "WORKER",
    "error_type",
    "execution_attributes",
    "metric_attributes",
]

# -- messaging semantic conventions -------------------------------------------------

#: ``messaging.system``: always :data:`SYSTEM_NAME` (the engine is in :data:`BACKEND`).
SYSTEM: Final = "messaging.system"
#: The value of ``messaging.system``.
SYSTEM_NAME: Final = "rail_tasks"
#: ``messaging.destination.name``: the execution's queue.
DESTINATION: Final = "messaging.destination.name"
#: ``messaging.message.id``: the execution id (the Django ``TaskResult.id``).
MESSAGE_ID: Final = "messaging.message.id"
#: ``messaging.operation.type``: ``send`` (enqueue), ``process`` (an attempt), ``settle`` (an outcome
#: recorded outside the attempt's process).
OPERATION_TYPE: Final = "messaging.operation.type"
#: ``messaging.operation.name``: the same words as the type.
OPERATION_NAME: Final = "messaging.operation.name"
#: ``error.type``: the exception's qualified class name on a failed attempt.
ERROR_TYPE: Final = "error.type"

# -- rail-tasks --------------------------------------------------------------------

#: The task's name (``TaskExecution.name``).
TASK_NAME: Final = "rail_tasks.task.name"
#: The backend alias the execution was enqueued on (``default``, ``celery`` ...).
BACKEND: Final = "rail_tasks.backend"
#: The attempt number, 1 for the first run.
ATTEMPT: Final = "rail_tasks.attempt"
#: How the attempt ended: ``completed``, ``retrying``, ``failed``, ``cancelled``.
OUTCOME: Final = "rail_tasks.outcome"
#: Whether another attempt was scheduled after this one failed.
WILL_RETRY: Final = "rail_tasks.will_retry"
#: On a producer span: the enqueue is a manual retry of a finished execution.
MANUAL_RETRY: Final = "rail_tasks.manual_retry"
#: The process running attempts (metrics of running executions).
WORKER: Final = "rail_tasks.worker"
#: On a span made after the fact: the outcome was recorded by another process (reaper, engine).
RECORDED_OUTSIDE: Final = "rail_tasks.recorded_outside_attempt"
#: Progress event: the value, 0 to 100.
PROGRESS: Final = "rail_tasks.progress"
#: Progress event: the message, when the task gave one.
PROGRESS_MESSAGE: Final = "rail_tasks.progress.message"
#: Retry event: seconds until the next attempt is due.
RETRY_DELAY: Final = "rail_tasks.retry.delay"
#: Retry event: the number of the next attempt.
RETRY_NEXT_ATTEMPT: Final = "rail_tasks.retry.next_attempt"

#: Span event: the task reported progress (throttled).
EVENT_PROGRESS: Final = "rail_tasks.progress"
#: Span event: the attempt failed and another one is scheduled.
EVENT_RETRY_SCHEDULED: Final = "rail_tasks.retry_scheduled"
#: Span event: someone asked to cancel a running execution (on the asking request's span).
EVENT_CANCEL_REQUESTED: Final = "rail_tasks.cancel_requested"
#: Span event: the execution ended cancelled.
EVENT_CANCELLED: Final = "rail_tasks.cancelled"


def error_type(error: BaseException) -> str:
    """``error.type`` of an exception: its module and qualified name."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__qualname__}"


def execution_attributes(execution: TaskExecution, operation: str) -> Attributes:
    """The span attributes every span about ``execution`` carries."""
    return {
        SYSTEM: SYSTEM_NAME,
        OPERATION_TYPE: operation,
        OPERATION_NAME: operation,
        DESTINATION: execution.queue,
        MESSAGE_ID: str(execution.id),
        TASK_NAME: execution.name,
        BACKEND: execution.backend,
    }


def metric_attributes(execution: TaskExecution) -> dict[str, str]:
    """The attributes every metric is broken down by: task name, queue, backend."""
    return {TASK_NAME: execution.name, DESTINATION: execution.queue, BACKEND: execution.backend}
