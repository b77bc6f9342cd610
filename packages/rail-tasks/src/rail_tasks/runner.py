"""The one lifecycle: claim, run and finish an execution.

Every engine's worker calls :func:`run_execution` with the id it was handed;
every status transition after enqueue happens here (or in
:func:`fail_execution` / :func:`cancel_execution`, for engines that notice a
lost worker or a cancel request from outside the task).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback as tb_module
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.db import InterfaceError, OperationalError, connections, router
from django.tasks import Task, TaskContext
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend
from django.tasks.signals import task_finished, task_started
from django.utils import timezone
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from rail_tasks.conf import task_settings
from rail_tasks.engine.attempts import RunningAttempt, running
from rail_tasks.engine.interrupts import ASYNC_INTERRUPTS, interrupt_error
from rail_tasks.exceptions import ExecutionNotFound, InvalidTaskResult, TaskCancelled, TaskTimeout, WorkerLost
from rail_tasks.hookcalls import hooks
from rail_tasks.limits import ResultTooLarge, check_result_size
from rail_tasks.loading import TaskNotImportable, _backend_for, _load_task_or_none, _wait_for_new_code, load_task
from rail_tasks.progress import TaskHandle, activate
from rail_tasks.retry import retry_delay_seconds
from rail_tasks.status import Status

if TYPE_CHECKING:
    from rail_tasks.backends.base import RailBackend
    from rail_tasks.models import TaskExecution

__all__ = [
    "RailTaskContext",
    "cancel_execution",
    "default_worker_id",
    "fail_execution",
    "finish_cancelled_execution",
    "load_task",
    "retry_execution",
    "run_claimed_execution",
    "run_execution",
    "storable_result",
]

logger = logging.getLogger("rail_tasks")


@dataclass(frozen=True, slots=True, kw_only=True)
class RailTaskContext(TaskContext):  # type: ignore[type-arg,misc]  # stubs: generic, not frozen
    """Django's task context plus ``task``, the progress handle (same as ``current_task()``)."""

    task: TaskHandle


def default_worker_id() -> str:
    """``host:pid``, the worker id used when an engine gives none."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _error_fields(exc: BaseException) -> dict[str, str]:
    cls = type(exc)
    return {
        "error": str(exc) or cls.__name__,
        "exception_class": f"{cls.__module__}.{cls.__qualname__}",
        "traceback": "".join(tb_module.format_exception(exc)),
    }


def _expires_at() -> Any:
    return timezone.now() + timedelta(seconds=int(task_settings.result_ttl_seconds))


def _send_finished(execution: TaskExecution, backend: RailBackend | None, task: Task[..., Any] | None) -> None:
    if backend is not None and task is not None:
        task_finished.send(sender=type(backend), task_result=backend.to_task_result(execution, task))


def _after_finish(execution: TaskExecution) -> None:
    if not task_settings.track_in_database:
        type(execution).objects.filter(pk=execution.pk, status=execution.status).delete()


def _call_failure_callback(execution: TaskExecution) -> None:
    """After the last attempt: an ERROR record, then ``failure_callback`` if set (``on_failure="ignore"``: neither)."""
    if task_settings.on_failure == "ignore":
        return
    logger.error("Task %s (%s) failed: %s", execution.name, execution.id, execution.error)
    path = task_settings.failure_callback
    if not path:
        return
    try:
        callback = import_string(path)
        callback(str(execution.id), execution.name, execution.error, execution.traceback)
    except Exception:
        logger.exception("failure_callback %r raised for task %s (%s)", path, execution.name, execution.id)


def _record_failure(
    execution: TaskExecution,
    attempt: int | None,
    exc: BaseException,
    backend: RailBackend | None,
    task: Task[..., Any] | None,
    *,
    retryable: bool = True,
    resubmit: list[datetime] | None = None,
) -> bool:
    """Apply the retry rules to a failed attempt. Returns whether the row changed.

    A retry is handed to the backend at once, or, with ``resubmit`` given, its
    ``run_after`` is appended there for the caller to submit once the attempt's
    execution context has exited (an inline backend would otherwise run the
    next attempt inside this one's context).
    """
    fields = _error_fields(exc)
    attempts_done = attempt if attempt is not None else execution.attempts
    if retryable and backend is not None and attempts_done < execution.max_attempts:
        delay = retry_delay_seconds(
            attempts_done,
            base=execution.retry_delay,
            backoff=execution.retry_backoff,
            cap=float(task_settings.retry_backoff_max),
        )
        run_after = timezone.now() + timedelta(seconds=delay)
        if not execution.schedule_retry(attempt, run_after=run_after, **fields):
            return False
        logger.warning(
            "Task %s (%s) attempt %d failed (%s); retrying in %.1fs",
            execution.name,
            execution.id,
            attempts_done,
            fields["exception_class"],
            delay,
        )
        hooks.fail(execution, exc, True)
        if resubmit is None:
            backend.submit_on_commit(execution, run_after=run_after)
        else:
            resubmit.append(run_after)
        return True
    if not execution.finish_failed(attempt, expires_at=_expires_at(), **fields):
        return False
    hooks.fail(execution, exc, False)
    _call_failure_callback(execution)
    _send_finished(execution, backend, task)
    _after_finish(execution)
    return True


def _log_finish(execution: TaskExecution, seconds: float) -> None:
    if task_settings.log_task_complete:
        logger.info(
            "Task %s (%s) %s in %.3fs (attempt %d)",
            execution.name,
            execution.id,
            execution.status,
            seconds,
            execution.attempts,
        )
    threshold = task_settings.slow_task_threshold_seconds
    if threshold is not None and seconds > float(threshold):
        logger.warning("Slow task %s (%s) took %.3fs (threshold %ss)", execution.name, execution.id, seconds, threshold)


def run_execution(
    execution_id: str | UUID,
    *,
    worker_id: str | None = None,
    lease_seconds: float | None = None,
) -> TaskExecution | None:
    """Claim, run and finish one execution; the only thing an engine's worker calls.

    :param execution_id: the id the engine carried.
    :param worker_id: who runs it (``host:pid`` by default).
    :param lease_seconds: length of the lease taken at claim, for engines that
        renew leases (the database worker); ``None`` for no lease.
    :returns: the execution after this attempt, or ``None`` when there was
        nothing to do (unknown id, or already claimed: a duplicate delivery).

    A connection that dropped while the worker was idle fails the claim, the
    first statement; it is reopened and the claim made once more (so workers
    need no ``CONN_HEALTH_CHECKS`` query per execution).
    """
    from rail_tasks.models import TaskExecution

    claimed = _claim_by_id(TaskExecution, execution_id, worker_id or default_worker_id(), lease_seconds)
    if claimed is None:
        if TaskExecution.objects.filter(pk=execution_id).exists():
            logger.debug("Execution %s was already claimed; duplicate delivery ignored", execution_id)
        else:
            logger.warning("Execution %s does not exist (deleted or never committed); nothing to run", execution_id)
        return None
    return run_claimed_execution(claimed)


def _claim_by_id(
    model: type[TaskExecution], execution_id: str | UUID, worker_id: str, lease_seconds: float | None
) -> TaskExecution | None:
    """The delivery's claim; once more on a fresh connection if the kept one turned out dead.

    A worker that keeps its connection between tasks (``CONN_MAX_AGE``) finds
    out here that the server closed it (restart, idle timeout), instead of
    paying a ``CONN_HEALTH_CHECKS`` ping before every execution.
    """
    try:
        return model.objects.claim_by_id(execution_id, worker_id, lease_seconds)
    except (OperationalError, InterfaceError):
        connection = connections[router.db_for_write(model)]
        if connection.in_atomic_block:
            raise
        logger.info("Database connection lost before claiming %s; claiming on a new one", execution_id)
        connection.close()
        return model.objects.claim_by_id(execution_id, worker_id, lease_seconds)


def run_claimed_execution(execution: TaskExecution) -> TaskExecution:
    """Run and finish an execution the caller has already claimed (its status is ``running``).

    For engines that claim in bulk through the model (the database worker
    claims with ``TaskExecution.objects.filter(...).claim(...)``); everyone
    else calls :func:`run_execution`. ``execution.attempts`` is the attempt
    that owns the row; every write is fenced by it. The order of hooks in
    one attempt is written down in :mod:`rail_tasks.hookspecs`.
    """
    attempt = execution.attempts
    backend = _backend_for(execution)
    try:
        if backend is None:
            raise InvalidTaskBackend(
                f"Backend alias {execution.backend!r} is not a rail-tasks backend in this process's TASKS setting"
            )
        task = load_task(execution.task_path)
    except (InvalidTask, InvalidTaskBackend) as exc:
        if (
            isinstance(exc, TaskNotImportable)
            and backend is not None
            and _wait_for_new_code(execution, attempt, exc, backend)
        ):
            return execution
        _record_failure(execution, attempt, exc, backend, None, retryable=False)
        return execution
    if attempt > execution.max_attempts:
        # Every earlier attempt vanished with its worker: stop instead of looping forever.
        lost = WorkerLost(
            f"Worker lost: the process running {execution.name!r} vanished on each of "
            f"{execution.max_attempts} attempt(s)"
        )
        _record_failure(execution, attempt, lost, backend, task, retryable=False)
        return execution

    task_started.send(sender=type(backend), task_result=backend.to_task_result(execution, task))
    hooks.start(execution)
    if task_settings.log_task_start:
        logger.info("Task %s (%s) started, attempt %d", execution.name, execution.id, attempt)

    handle = TaskHandle(execution, timeout=execution.timeout)
    started = time.monotonic()
    outcome = _Outcome(execution, attempt, backend, task)
    try:
        with (
            running(execution, timeout=execution.timeout) as current,
            activate(handle),
            hooks.execution_context(execution),
        ):
            outcome.run(handle, current)
    except BaseException:
        # Recorded inside the execution context (so a plugin's span ends with the outcome). Whatever was
        # not recorded (the database failed under the runner) and interrupts of the worker itself go on.
        if not outcome.recorded or not outcome.swallow:
            raise
    finally:
        _log_finish(execution, time.monotonic() - started)
        for run_after in outcome.resubmit:
            backend.submit_on_commit(execution, run_after=run_after)
    return execution


@dataclass
class _Outcome:
    """One attempt's call of the task function and the recording of how it ended."""

    execution: TaskExecution
    attempt: int
    backend: RailBackend
    task: Task[..., Any]
    recorded: bool = False
    #: Whether the exception that ended the attempt stops here (``False``: re-raised after recording).
    swallow: bool = True
    #: ``run_after`` of the retry to hand to the backend once the context has exited.
    resubmit: list[datetime] = field(default_factory=list)

    def run(self, handle: TaskHandle, current: RunningAttempt) -> None:
        execution, task = self.execution, self.task
        try:
            with current.user_code():
                if task.takes_context:
                    context = RailTaskContext(task_result=self.backend.to_task_result(execution, task), task=handle)
                    value = task.call(context, *execution.args, **execution.kwargs)
                else:
                    value = task.call(*execution.args, **execution.kwargs)
            result = storable_result(value, execution.name)
        except TaskCancelled:
            self.recorded = True
            if execution.finish_cancelled(self.attempt, expires_at=_expires_at()):
                hooks.cancel(execution)
                _send_finished(execution, self.backend, task)
                _after_finish(execution)
            raise
        except BaseException as exc:
            error = _public_error(exc, current)
            # KeyboardInterrupt (and other interrupts of the worker itself) are recorded, then re-raised.
            self.swallow = isinstance(exc, Exception | SystemExit)
            retryable = self.swallow and not isinstance(exc, InvalidTaskResult)
            _record_failure(
                execution, self.attempt, error, self.backend, task, retryable=retryable, resubmit=self.resubmit
            )
            self.recorded = True
            raise
        else:
            if execution.finish_completed(self.attempt, result, _expires_at()):
                hooks.complete(execution, result)
                _send_finished(execution, self.backend, task)
                _after_finish(execution)
            else:
                logger.warning(
                    "Execution %s attempt %d finished but no longer owned the row; its result was discarded",
                    execution.id,
                    self.attempt,
                )
            self.recorded = True


def storable_result(value: Any, name: str = "task") -> Any:
    """``value`` normalised for the ``result`` column, or :class:`InvalidTaskResult` naming what is wrong."""
    try:
        result = normalize_json(value)
        check_result_size(result)  # not JSON, or above max_result_bytes
    except ResultTooLarge:
        raise
    except (TypeError, ValueError) as exc:
        from rail_tasks.backends.base import _find_unserialisable

        culprit = _find_unserialisable(value, "return value") or f"return value: {type(value).__name__}"
        raise InvalidTaskResult(
            f"Task {name!r} returned a value that cannot be stored as JSON ({culprit}): {exc}. "
            "Return plain values (str, int, float, bool, None, lists, dicts with string keys); "
            "the attempt is not retried, so the task's side effects do not run again."
        ) from exc
    return result


def _public_error(exc: BaseException, current: RunningAttempt) -> BaseException:
    """An interrupt raised asynchronously carries no message: record it as the timeout it stands for."""
    if isinstance(exc, ASYNC_INTERRUPTS) and isinstance(exc, TaskTimeout):
        current.timeout_pending = True
        public = interrupt_error(current)
        return public.with_traceback(exc.__traceback__)
    return exc


def fail_execution(
    execution_id: str | UUID,
    error: BaseException,
    *,
    attempt: int | None = None,
    retryable: bool = True,
) -> TaskExecution | None:
    """Record a failure that happened outside the task function.

    For engines: a hard time limit killed the child (pass :class:`TaskTimeout`),
    the worker was lost (:class:`WorkerLost`). The retry rules apply as for any
    failure. With ``attempt`` given, nothing changes unless that attempt still
    owns the row.
    """
    from rail_tasks.models import TaskExecution

    execution = TaskExecution.objects.filter(pk=execution_id).first()
    if execution is None or execution.status != Status.RUNNING:
        return None
    backend = _backend_for(execution)
    task = _load_task_or_none(execution.task_path)
    _record_failure(execution, attempt, error, backend, task, retryable=retryable)
    return execution


def finish_cancelled_execution(execution_id: str | UUID, *, attempt: int) -> TaskExecution | None:
    """Record that an engine stopped running ``attempt`` because cancellation was requested.

    For engines that end the process running a task (the database worker);
    fires the ``cancel`` hook and Django's ``task_finished`` like a task that
    noticed the request itself. Returns ``None`` when ``attempt`` no longer
    owns the row.
    """
    from rail_tasks.models import TaskExecution

    execution = TaskExecution.objects.filter(pk=execution_id).first()
    if execution is None or not execution.finish_cancelled(attempt, expires_at=_expires_at()):
        return None
    hooks.cancel(execution)
    task = _load_task_or_none(execution.task_path)
    _send_finished(execution, _backend_for(execution), task)
    _after_finish(execution)
    return execution


def cancel_execution(execution_id: str | UUID) -> TaskExecution:
    """Cancel an execution: at once when waiting, by request when running.

    A running task sees the request at its next ``update_progress`` (and
    engines that can also stop it there). Finished executions are left alone.
    """
    from rail_tasks.models import TaskExecution

    execution = TaskExecution.objects.filter(pk=execution_id).first()
    if execution is None:
        raise ExecutionNotFound(str(execution_id))
    if execution.finish_cancelled(expires_at=_expires_at()):
        hooks.cancel(execution)
        backend = _backend_for(execution)
        task = _load_task_or_none(execution.task_path)
        _send_finished(execution, backend, task)
        _after_finish(execution)
    elif execution.request_cancel():
        hooks.cancel_requested(execution)
        backend = _backend_for(execution)
        if backend is not None and backend.supports_cancel_running:
            backend.cancel_running(execution)
    return execution


def retry_execution(execution_id: str | UUID) -> TaskExecution:
    """Run a failed or cancelled execution again, from a fresh first attempt."""
    from rail_tasks.models import TaskExecution

    execution = TaskExecution.objects.filter(pk=execution_id).first()
    if execution is None:
        raise ExecutionNotFound(str(execution_id))
    backend = _backend_for(execution)
    if backend is None:
        raise InvalidTaskBackend(f"Backend alias {execution.backend!r} of execution {execution.id} is not configured")
    task = _load_task_or_none(execution.task_path)
    metadata = dict(execution.metadata or {})
    if task is not None:
        # A retry is a new enqueue: plugins attach fresh context (a new trace, linked to the old one).
        metadata.update(hooks.enqueue_metadata(task, list(execution.args), dict(execution.kwargs), retry_of=execution))
    if execution.reset_for_retry(metadata=metadata):
        hooks.enqueue(execution)
        backend.submit_on_commit(execution)
    return execution
