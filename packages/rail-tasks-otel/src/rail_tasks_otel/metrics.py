"""Task metrics, recorded only while the ``metrics_enabled`` task setting is on.

Every instrument is broken down by task name, queue and backend
(:func:`rail_tasks_otel.attributes.metric_attributes`); the run duration also
by outcome and the running count also by worker. The instruments come from
the global meter provider (``opentelemetry.metrics``), so without an SDK they
are no-ops. docs/otel.md lists them.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Final

from opentelemetry import metrics

from rail_tasks import task_settings
from rail_tasks_otel import propagation
from rail_tasks_otel.__about__ import __version__
from rail_tasks_otel.attributes import OUTCOME, WORKER, metric_attributes

if TYPE_CHECKING:
    from rail_tasks import TaskExecution

__all__ = [
    "DURATION_BUCKETS",
    "enabled",
    "record_enqueued",
    "record_finished",
    "record_running",
    "record_started",
    "set_worker_id",
    "worker_id",
]

#: Bucket boundaries (seconds) of both histograms: from 5 ms to an hour.
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip

_meter = metrics.get_meter("rail_tasks_otel", __version__)

ENQUEUED = _meter.create_counter(
    "rail_tasks.executions.enqueued", unit="{execution}", description="Executions enqueued (manual retries included)."
)
STARTED = _meter.create_counter(
    "rail_tasks.executions.started", unit="{attempt}", description="Attempts started in a worker."
)
COMPLETED = _meter.create_counter(
    "rail_tasks.executions.completed", unit="{execution}", description="Executions that completed."
)
FAILED = _meter.create_counter(
    "rail_tasks.executions.failed", unit="{execution}", description="Executions that failed for good (no retry left)."
)
RETRIED = _meter.create_counter(
    "rail_tasks.executions.retried", unit="{attempt}", description="Failed attempts after which a retry was scheduled."
)
CANCELLED = _meter.create_counter(
    "rail_tasks.executions.cancelled", unit="{execution}", description="Executions cancelled."
)
QUEUE_WAIT = _meter.create_histogram(
    "rail_tasks.execution.queue_wait",
    unit="s",
    description="Time from when an attempt was due (enqueued, or its retry's time) to its start.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)
DURATION = _meter.create_histogram(
    "rail_tasks.execution.duration",
    unit="s",
    description="Run time of one attempt, by outcome.",
    explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
)
RUNNING = _meter.create_up_down_counter(
    "rail_tasks.executions.running", unit="{execution}", description="Attempts running now, by worker process."
)

_OUTCOME_COUNTERS = {"completed": COMPLETED, "failed": FAILED, "retrying": RETRIED, "cancelled": CANCELLED}

_worker: tuple[int, str] | None = None


def enabled() -> bool:
    """Whether metrics are recorded now (the ``metrics_enabled`` task setting)."""
    return bool(task_settings.metrics_enabled)


def set_worker_id(value: str) -> None:
    """Name this process in the running count (from ``rail_tasks_worker_start``)."""
    global _worker
    _worker = (os.getpid(), value)


def worker_id() -> str:
    """This process's worker id: the one its engine gave, else ``host:pid``."""
    global _worker
    pid = os.getpid()
    if _worker is None or _worker[0] != pid:  # unset, or inherited across a fork
        _worker = (pid, f"{socket.gethostname()}:{pid}")
    return _worker[1]


def record_enqueued(execution: TaskExecution) -> None:
    """Count an enqueue."""
    ENQUEUED.add(1, metric_attributes(execution))


def record_started(execution: TaskExecution) -> None:
    """Count a started attempt and record how long it waited since it was due."""
    attributes = metric_attributes(execution)
    STARTED.add(1, attributes)
    enqueued = propagation.enqueued_at(execution)
    due = execution.run_after.timestamp() if execution.run_after is not None else None
    since = max(filter(None, (enqueued, due)), default=None)
    if since is not None:
        QUEUE_WAIT.record(max(time.time() - since, 0.0), attributes)


def record_running(execution: TaskExecution, delta: int) -> None:
    """Move the count of running attempts of this worker by ``delta``."""
    RUNNING.add(delta, {**metric_attributes(execution), WORKER: worker_id()})


def record_finished(execution: TaskExecution, outcome: str, duration: float | None) -> None:
    """Count an attempt's outcome and record its run time (when known)."""
    attributes = metric_attributes(execution)
    _OUTCOME_COUNTERS[outcome].add(1, attributes)
    if duration is not None:
        DURATION.record(duration, {**attributes, OUTCOME: outcome})
