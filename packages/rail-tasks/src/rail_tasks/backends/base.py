"""``RailBackend``: the base of every rail-tasks backend.

It owns validation, the ``TaskExecution`` row, submit-on-commit, ``get_result``
and Django's signals. A subclass adds transport only: :meth:`submit` hands
"run execution <id>" to its engine, and optionally :meth:`cancel_running`
stops a running one there. The engine's worker calls
:func:`rail_tasks.run_execution` and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import logging
from abc import abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, ParamSpec, TypeVar, cast

from django.core.exceptions import ValidationError
from django.db import router, transaction
from django.tasks import Task, TaskResult
from django.tasks.backends.base import BaseTaskBackend
from django.tasks.base import TaskError
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
from django.tasks.signals import task_enqueued
from django.utils.json import normalize_json
from django.utils.module_loading import import_string

from rail_tasks import statements
from rail_tasks.conf import SettingSpec, task_settings
from rail_tasks.exceptions import InvalidTaskArguments, TasksDisabled
from rail_tasks.hookcalls import hooks
from rail_tasks.owner import get_current_owner
from rail_tasks.status import to_django_status
from rail_tasks.task import RailTask, execution_options
from rail_tasks.task_paths import check_task_path

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["RailBackend"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

logger = logging.getLogger("rail_tasks")


class RailBackend(BaseTaskBackend):
    """Base Django Tasks backend that tracks every execution in ``TaskExecution``.

    Capability flags follow Django's ``supports_*`` vocabulary, plus:

    * ``supports_timeout``: the engine stops an attempt that runs past its
      ``timeout`` (otherwise the timeout is only checked at each
      ``update_progress`` call);
    * ``supports_cancel_running``: the engine can stop a running attempt (otherwise
      a running task stops at its next ``update_progress`` call);
    * ``runs_inline``: ``enqueue`` runs the task before returning.
    """

    task_class = RailTask

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True
    supports_timeout: ClassVar[bool] = False
    supports_cancel_running: ClassVar[bool] = False
    runs_inline: ClassVar[bool] = False

    #: The ``OPTIONS`` keys this backend reads, checked by the system checks (unknown keys get a did-you-mean).
    option_specs: ClassVar[Mapping[str, SettingSpec]] = {}

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        if "QUEUES" not in params:
            # Seed-style settings: `queues` lists allowed names; empty allows any.
            self.queues = set(task_settings.queues)
        #: Module-level tasks bound to this alias, by ``id()``: ``Task.using()`` validates on every call.
        self._bound: dict[int, tuple[Task[..., Any], Task[..., Any]]] = {}

    # -- transport: what subclasses provide -----------------------------------

    @abstractmethod
    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> str | None:
        """Hand "run execution <id>" to the engine, not before ``run_after``.

        Called after the transaction that created (or rescheduled) the row
        commits. ``execution.queue``, ``priority`` and ``timeout`` say where and
        how to run it. Returns the engine's message id (the execution id when
        the row itself is the message), or ``None`` when the message could not
        be handed over (logged; the reaper sends it again).
        """

    def cancel_running(self, execution: TaskExecution) -> None:
        """Ask the engine to stop a running attempt (engines that can set ``supports_cancel_running``)."""

    # -- validation -----------------------------------------------------------

    def validate_task(self, task: Task[..., Any]) -> None:
        """Django's checks plus rail's: the task has a name and a sane timeout."""
        super().validate_task(task)
        if isinstance(task, RailTask):
            if task.timeout is not None and task.timeout <= 0:
                raise InvalidTask("timeout must be a positive number of seconds.")
            if task.max_retries is not None and task.max_retries < 0:
                raise InvalidTask("max_retries cannot be negative.")

    def _check_importable(self, task: Task[..., Any]) -> None:
        check_task_path(task.module_path)
        try:
            found = import_string(task.module_path)
        except ImportError as exc:
            raise InvalidTask(
                f"Task {task.module_path!r} cannot be imported by its path, so no worker could run it: {exc}"
            ) from exc
        if not isinstance(found, Task) or found.func is not task.func:
            raise InvalidTask(f"{task.module_path!r} does not name this task; define tasks at module level.")

    @staticmethod
    def _json_arguments(args: Any, kwargs: Any) -> tuple[list[Any], dict[str, Any]]:
        """Normalise arguments and prove they survive a JSON round trip unchanged."""
        normalized: dict[str, Any] = {}
        for label, value in (("args", list(args)), ("kwargs", dict(kwargs))):
            try:
                normalized[label] = normalize_json(value)
                round_trip = json.loads(json.dumps(normalized[label], allow_nan=False))
            except (TypeError, ValueError) as exc:
                offending = _find_unserialisable(value, label)
                where = f" ({offending})" if offending else ""
                raise InvalidTaskArguments(
                    f"Task {label} must be JSON-serialisable{where}: {exc}. Pass ids or plain values instead."
                ) from exc
            if round_trip != normalized[label]:
                culprit = _find_unserialisable(value, label) or "check dict keys"
                raise InvalidTaskArguments(
                    f"Task {label} change in a JSON round trip ({culprit}): dict keys must be strings."
                )
        from rail_tasks.limits import check_argument_size  # max_argument_bytes (rail_tasks.limits)

        check_argument_size(normalized["args"], normalized["kwargs"])
        return normalized["args"], normalized["kwargs"]

    # -- enqueue --------------------------------------------------------------

    def enqueue(self, task: Task[_P, _R], args: list[Any], kwargs: dict[str, Any]) -> TaskResult[_P, _R]:
        """Validate, insert the execution row, fire hooks and hand it to the engine on commit."""
        from rail_tasks.models import TaskExecution

        if not task_settings.enabled:
            raise TasksDisabled("rail-tasks is disabled (task settings: enabled=False).")
        self.validate_task(task)
        self._check_importable(task)
        json_args, json_kwargs = self._json_arguments(args, kwargs)
        options = execution_options(task)
        metadata = hooks.enqueue_metadata(task, json_args, json_kwargs)
        owner = get_current_owner()
        execution = TaskExecution(
            task_path=task.module_path,
            backend=self.alias,
            engine=f"{type(self).__module__}.{type(self).__qualname__}",
            queue=task.queue_name,
            priority=task.priority,
            args=json_args,
            kwargs=json_kwargs,
            metadata=metadata,
            **options.as_fields(),
            run_after=task.run_after,
            owner=owner if owner is not None and owner.is_authenticated else None,
        )
        try:
            # Field checks only: the check constraints (priority range) were validated with the task,
            # and a fresh UUID needs no uniqueness query; both would cost a query per enqueue.
            execution.full_clean(
                exclude=["owner", "args", "kwargs", "metadata", "result"],
                validate_unique=False,
                validate_constraints=False,
            )
        except ValidationError as exc:
            raise InvalidTask(f"Task {task.module_path!r} cannot be enqueued: {exc}") from exc
        submitted = self.insert_execution(execution, router.db_for_write(TaskExecution, instance=execution))
        hooks.enqueue(execution)
        task_result = cast("TaskResult[_P, _R]", self.to_task_result(execution, task))
        task_enqueued.send(sender=type(self), task_result=task_result)
        if submitted:  # the INSERT told the engine already (NOTIFY on commit): report it on commit too
            using = router.db_for_write(TaskExecution, instance=execution)
            transaction.on_commit(lambda: hooks.submitted(execution, str(execution.pk)), using=using)
        else:
            self.submit_on_commit(execution, run_after=task.run_after)
        if self.runs_inline:
            # With track_in_database=False the finished row is already gone; the result stays as enqueued.
            with contextlib.suppress(TaskResultDoesNotExist):
                task_result.refresh()
        return task_result

    def insert_execution(self, execution: TaskExecution, using: str) -> bool:
        """Write the new row to ``using``; return whether that statement also submitted it to the engine.

        One prebuilt ``INSERT`` (:func:`rail_tasks.statements.insert_execution`),
        or ``save()`` when model signals listen. A backend whose engine can be
        told in the same round trip (the database backend's ``NOTIFY``) does
        so here and returns ``True``: :meth:`enqueue` then skips
        :meth:`submit_on_commit`, so a rolled-back enqueue must not reach the
        engine either.
        """
        if not statements.insert_execution(execution, using=using):
            execution.save(force_insert=True, using=using)
        return False

    def submit_on_commit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> None:
        """Call :meth:`submit` once the current transaction commits (at once outside one).

        ``rail_tasks_submitted`` fires after the engine accepted the message.
        """
        using = router.db_for_write(type(execution))
        transaction.on_commit(lambda: self._submit_and_report(execution, run_after), using=using)

    def _submit_and_report(self, execution: TaskExecution, run_after: datetime | None) -> None:
        message_id = self.submit(execution, run_after=run_after)
        if message_id is not None:
            hooks.submitted(execution, message_id)

    # -- results --------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult[..., Any]:
        """The ``TaskResult`` of an execution, read from its row."""
        from rail_tasks.models import TaskExecution

        try:
            execution = TaskExecution.objects.get(pk=result_id)
        except (TaskExecution.DoesNotExist, ValidationError, ValueError) as exc:
            raise TaskResultDoesNotExist(result_id) from exc
        try:
            task = import_string(execution.task_path)
        except ImportError as exc:
            raise TaskResultDoesNotExist(f"{result_id}: task {execution.task_path!r} is not importable") from exc
        return self.to_task_result(execution, task)

    def to_task_result(self, execution: TaskExecution, task: Task[..., Any]) -> TaskResult[..., Any]:
        """Build Django's ``TaskResult`` from an execution row (status mapped, errors listed)."""
        errors = []
        if execution.exception_class or execution.traceback:
            errors.append(
                TaskError(
                    exception_class_path=execution.exception_class or "builtins.Exception",
                    traceback=execution.traceback or execution.error,
                )
            )
        if task.backend != self.alias:
            # The module-level task may name another alias; validate run_after against this backend.
            task = self._bind(task)
        if self.supports_defer and execution.run_after and task.run_after != execution.run_after:
            task = task.using(run_after=execution.run_after)
        result: TaskResult[..., Any] = TaskResult(
            task=task,
            id=str(execution.id),
            status=to_django_status(execution.status),
            enqueued_at=execution.created_at,
            started_at=execution.started_at,
            finished_at=execution.completed_at,
            last_attempted_at=execution.heartbeat_at if execution.attempts else None,
            args=list(execution.args),
            kwargs=dict(execution.kwargs),
            backend=self.alias,
            errors=errors,
            # Django counts attempts as len(worker_ids); one entry per attempt.
            worker_ids=[execution.worker_id or "unknown"] * execution.attempts,
        )
        object.__setattr__(result, "_return_value", execution.result)
        return result

    def _bind(self, task: Task[..., Any]) -> Task[..., Any]:
        """``task.using(backend=self.alias)``, made once per task (a worker binds every execution's task twice)."""
        cached = self._bound.get(id(task))
        if cached is None or cached[0] is not task:  # the key holds the task: its id cannot be reused meanwhile
            if len(self._bound) >= 512:  # tasks made on the fly (``.using()`` per call) must not pile up
                self._bound.clear()
            cached = self._bound[id(task)] = (task, task.using(backend=self.alias))
        return cached[1]


def _find_unserialisable(value: Any, path: str = "") -> str:
    """Name the first argument that JSON cannot carry, e.g. ``kwargs['user']: User``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path or 'a'} key {key!r} is not a string"
            found = _find_unserialisable(item, f"{path}[{key!r}]")
            if found:
                return found
        return ""
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _find_unserialisable(item, f"{path}[{index}]")
            if found:
                return found
        return ""
    if value is None or isinstance(value, str | int | bool):
        return ""
    if isinstance(value, float):
        return "" if value == value and value not in (float("inf"), float("-inf")) else f"{path}: {value!r}"
    return f"{path or 'value'}: {type(value).__name__}"
