"""``RailTask``: Django's ``Task`` with rail's options, and the ``task`` decorator.

The options are declared once, in :class:`TaskOptions`; the decorators
(``rail_tasks.task``, ``rail_tasks_graphql.task_mutation``) take exactly those
keywords, and :func:`execution_options` resolves them against the task
settings for a new execution. On Django 6.1 the rail backends set
``task_class = RailTask``, so Django's own ``@django.tasks.task(max_retries=5,
timeout=60)`` accepts the same options. On Django 6.0 (whose decorator takes
no extra options) use ``@rail_tasks.task(...)``; it works on both.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict, Unpack, overload

from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, Task
from django.tasks.base import DEFAULT_TASK_PRIORITY

from rail_tasks.conf import task_settings

__all__ = ["ExecutionOptions", "RailTask", "TaskOptions", "execution_options", "task"]


class TaskOptions(TypedDict, total=False):
    """Every option of a rail task, as the decorators take them (all optional).

    ``None`` means "the task settings' default" for ``max_retries``,
    ``retry_delay``, ``retry_backoff`` and ``timeout``.
    """

    #: Display name (``TaskExecution.name``); the function's name by default.
    name: str
    #: Queue name (Django calls it ``queue_name``); ``default_queue`` by default.
    queue: str | None
    #: -100 to 100, higher first where the backend supports it.
    priority: int
    #: Alias in ``TASKS``.
    backend: str
    #: Pass Django's task context as the first argument ``context`` (``context.task`` is the progress handle).
    takes_context: bool
    #: Retries after the first attempt.
    max_retries: int | None
    #: Seconds before a retry (the base of the backoff).
    retry_delay: float | None
    #: Exponential backoff with jitter between retries.
    retry_backoff: bool | None
    #: Seconds an attempt may run; enforced by the backend where it can, else at progress updates.
    timeout: float | None
    #: Whether ``update_progress`` writes progress.
    track_progress: bool


#: The option names, for did-you-mean messages.
OPTION_NAMES = tuple(TaskOptions.__annotations__)


def check_option_names(options: dict[str, Any]) -> None:
    """Raise :class:`TypeError` naming an unknown option and the closest valid one."""
    for key in options:
        if key not in OPTION_NAMES:
            close = difflib.get_close_matches(key, OPTION_NAMES, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else f" Options: {', '.join(OPTION_NAMES)}."
            raise TypeError(f"Unknown task option {key!r}.{hint}")


@dataclass(frozen=True, slots=True, kw_only=True)
class RailTask(Task):  # type: ignore[type-arg]  # Task is generic only in django-stubs
    """A Django ``Task`` carrying rail-tasks' per-task options (see :class:`TaskOptions`)."""

    name: str = ""
    max_retries: int | None = None
    retry_delay: float | None = None
    retry_backoff: bool | None = None
    timeout: float | None = None
    track_progress: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.func.__name__)
        Task.__post_init__(self)  # validate against the backend


@dataclass(frozen=True, slots=True)
class ExecutionOptions:
    """A task's options resolved against the task settings: what a new ``TaskExecution`` stores."""

    name: str
    max_retries: int
    retry_delay: float
    retry_backoff: bool
    timeout: float | None
    track_progress: bool

    def as_fields(self) -> dict[str, Any]:
        """The ``TaskExecution`` field values."""
        return {
            "name": self.name,
            "max_retries": self.max_retries,
            "retry_delay": self.retry_delay,
            "retry_backoff": self.retry_backoff,
            "timeout": self.timeout,
            "track_progress": self.track_progress,
        }


def execution_options(task: Task[..., Any]) -> ExecutionOptions:
    """The options of any ``Task`` for a new execution; a plain Django ``Task`` gets the settings' defaults."""

    def pick(name: str) -> Any:
        value = getattr(task, name, None)
        return getattr(task_settings, name) if value is None else value

    timeout = getattr(task, "timeout", None)
    if timeout is None:
        timeout = task_settings.default_timeout
    return ExecutionOptions(
        name=task.name,
        max_retries=int(pick("max_retries")),
        retry_delay=float(pick("retry_delay")),
        retry_backoff=bool(pick("retry_backoff")),
        timeout=float(timeout) if timeout is not None else None,
        track_progress=bool(getattr(task, "track_progress", True)),
    )


def make_task(func: Callable[..., Any], options: TaskOptions) -> RailTask:
    """Build the :class:`RailTask` for ``func`` with ``options`` (unknown names are a ``TypeError``)."""
    check_option_names(dict(options))
    values: dict[str, Any] = dict(options)
    queue = values.pop("queue", None)
    return RailTask(
        func=func,
        queue_name=queue or str(task_settings.default_queue),
        priority=values.pop("priority", DEFAULT_TASK_PRIORITY),
        backend=values.pop("backend", DEFAULT_TASK_BACKEND_ALIAS),
        takes_context=values.pop("takes_context", False),
        run_after=None,
        **values,
    )


@overload
def task(function: Callable[..., Any], /) -> RailTask: ...


@overload
def task(function: None = None, /, **options: Unpack[TaskOptions]) -> Callable[[Callable[..., Any]], RailTask]: ...


def task(
    function: Callable[..., Any] | None = None, /, **options: Unpack[TaskOptions]
) -> RailTask | Callable[[Callable[..., Any]], RailTask]:
    """Turn a module-level function into a tracked task.

    Works bare (``@task``) or with the options of :class:`TaskOptions`::

        @rail_tasks.task(queue="orders", max_retries=5, retry_delay=60, timeout=300)
        def process_order(order_id: str) -> dict: ...

    A misspelt option is a ``TypeError`` naming the closest valid one.
    """
    check_option_names(dict(options))
    if function is not None:
        return make_task(function, options)
    return lambda func: make_task(func, options)
