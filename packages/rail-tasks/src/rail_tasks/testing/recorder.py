"""A recording plugin: every hook and Django task signal, as JSON lines, from any process.

List it in the settings every process shares::

    RAIL_TASKS = {"plugins": ["rail_tasks.testing.recorder"]}

and name a file in the environment variable ``RAIL_TASKS_TEST_EVENTS``. Each
process (the test process, worker subprocesses, threads) then appends one line
per event to that file::

    {"event": "hook:start", "execution_id": "…", "status": "running", "pid": 4242, "time": …}

Without the variable nothing is written. Lines are appended with one
``O_APPEND`` write under an exclusive ``flock`` (where available), so
concurrent writers never interleave. Read them back with :func:`read_events`.

Event names:

* ``hook:<name>`` for ``rail_tasks_<name>`` (``hook:notify`` carries
  ``notify_event``; ``hook:progress`` ``progress`` and ``message``;
  ``hook:fail`` ``will_retry`` and ``error_class``);
* ``context:enter`` / ``context:exit`` around the task function
  (``rail_tasks_execution_context``);
* ``signal:task_enqueued`` / ``signal:task_started`` / ``signal:task_finished``
  (Django's signals; ``status`` is Django's ``TaskResultStatus``);
* ``task:run``, written by the conformance tasks themselves each time their
  function body starts (see :func:`record_event`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.tasks.signals import task_enqueued, task_finished, task_started

from rail_tasks.plugins import hookimpl

try:  # POSIX only; O_APPEND alone is enough for single short writes elsewhere.
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from django.tasks import Task, TaskResult

    from rail_tasks.models import TaskExecution

__all__ = ["EVENTS_ENV", "events_path", "read_events", "record_event"]

#: Environment variable naming the JSON-lines file events are appended to.
EVENTS_ENV = "RAIL_TASKS_TEST_EVENTS"


def events_path() -> Path | None:
    """The events file named by ``RAIL_TASKS_TEST_EVENTS``, or ``None`` when recording is off."""
    value = os.environ.get(EVENTS_ENV, "").strip()
    return Path(value) if value else None


def record_event(event: str, execution_id: str | None, status: str | None = None, **extra: Any) -> None:
    """Append one event line to the events file (does nothing when recording is off).

    :param event: the event name, e.g. ``"hook:start"`` or ``"task:run"``.
    :param execution_id: the execution it concerns (``None`` when there is none yet).
    :param status: the execution's status at that moment, if known.
    :param extra: more JSON-serialisable fields for the line.
    """
    path = events_path()
    if path is None:
        return
    line = {
        "event": event,
        "execution_id": str(execution_id) if execution_id is not None else None,
        "status": str(status) if status is not None else None,
        "pid": os.getpid(),
        "time": time.time(),
        **extra,
    }
    data = (json.dumps(line, default=str) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
    finally:
        os.close(fd)  # closing releases the lock


def read_events(execution_id: str | None = None, *, path: str | Path | None = None) -> list[dict[str, Any]]:
    """The recorded events, in the order they were written, optionally of one execution only.

    :param execution_id: keep only this execution's events (``None`` keeps all).
    :param path: the events file; ``RAIL_TASKS_TEST_EVENTS`` by default.
    """
    source = Path(path) if path is not None else events_path()
    if source is None or not source.exists():
        return []
    wanted = str(execution_id) if execution_id is not None else None
    events = []
    for raw in source.read_text().splitlines():
        if not raw.strip():
            continue
        event = json.loads(raw)
        if wanted is None or event.get("execution_id") == wanted:
            events.append(event)
    return events


# -- hook implementations ------------------------------------------------------


def _record(event: str, execution: TaskExecution, **extra: Any) -> None:
    record_event(event, str(execution.pk), execution.status, attempt=execution.attempts, **extra)


@hookimpl
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Registers no backend (implemented so that the recorder covers every hookspec)."""


@hookimpl
def rail_tasks_enqueue_metadata(task: Task[..., Any], args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """Record that metadata was asked for; contributes none."""
    record_event("hook:enqueue_metadata", None, task=task.module_path)
    return None


@hookimpl
def rail_tasks_enqueue(execution: TaskExecution) -> None:
    """Record ``hook:enqueue``."""
    _record("hook:enqueue", execution)


@hookimpl
def rail_tasks_start(execution: TaskExecution) -> None:
    """Record ``hook:start``."""
    _record("hook:start", execution)


@contextmanager
def _recording_context(execution: TaskExecution) -> Iterator[None]:
    _record("context:enter", execution)
    try:
        yield
    finally:
        _record("context:exit", execution)


@hookimpl
def rail_tasks_execution_context(execution: TaskExecution) -> AbstractContextManager[Any] | None:
    """Record ``context:enter`` and ``context:exit`` around the task function."""
    return _recording_context(execution)


@hookimpl
def rail_tasks_progress(execution: TaskExecution, progress: int, message: str | None) -> None:
    """Record ``hook:progress`` with the value and message."""
    _record("hook:progress", execution, progress=progress, message=message)


@hookimpl
def rail_tasks_complete(execution: TaskExecution, result: Any) -> None:
    """Record ``hook:complete`` with the result."""
    _record("hook:complete", execution, result=result)


@hookimpl
def rail_tasks_fail(execution: TaskExecution, error: BaseException, will_retry: bool) -> None:
    """Record ``hook:fail`` with the error class and whether it will retry."""
    cls = type(error)
    _record("hook:fail", execution, will_retry=will_retry, error_class=f"{cls.__module__}.{cls.__qualname__}")


@hookimpl
def rail_tasks_cancel(execution: TaskExecution) -> None:
    """Record ``hook:cancel``."""
    _record("hook:cancel", execution)


@hookimpl
def rail_tasks_notify(execution: TaskExecution, event: str) -> None:
    """Record ``hook:notify`` with the notified event."""
    _record("hook:notify", execution, notify_event=event)


# -- Django's signals ----------------------------------------------------------


def _signal_receiver(name: str) -> Callable[..., None]:
    def receiver(sender: type, task_result: TaskResult[Any, Any], **kwargs: Any) -> None:
        record_event(f"signal:{name}", task_result.id, str(task_result.status), backend=task_result.backend)

    receiver.__name__ = f"record_{name}"
    return receiver


_RECEIVERS = {name: _signal_receiver(name) for name in ("task_enqueued", "task_started", "task_finished")}

task_enqueued.connect(_RECEIVERS["task_enqueued"], dispatch_uid="rail_tasks_testing_recorder_enqueued")
task_started.connect(_RECEIVERS["task_started"], dispatch_uid="rail_tasks_testing_recorder_started")
task_finished.connect(_RECEIVERS["task_finished"], dispatch_uid="rail_tasks_testing_recorder_finished")
