"""``RailTask``: Django's ``Task`` with rail's options, and the ``task`` decorator.

On Django 6.1 the rail backends set ``task_class = RailTask``, so Django's own
``@django.tasks.task(max_retries=5, timeout=60)`` accepts the same options.
On Django 6.0 (whose decorator takes no extra options) use
``@rail_tasks.task(...)``; it works on both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, overload

from django.tasks import DEFAULT_TASK_BACKEND_ALIAS, Task
from django.tasks.base import DEFAULT_TASK_PRIORITY

from rail_tasks.conf import task_settings

__all__ = ["RailTask", "task"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RailTask(Task):  # type: ignore[type-arg]  # Task is generic only in django-stubs
    """A Django ``Task`` carrying rail-tasks' per-task options.

    ``None`` means "use the task settings' default" for every option but
    ``track_progress``.
    """

    #: Display name (seed: ``task_mutation(name="generate_report")``); defaults to the function's name.
    name: str = ""
    #: Retries after the first attempt.
    max_retries: int | None = None
    #: Seconds before a retry (the base of the backoff).
    retry_delay: float | None = None
    #: Exponential backoff with jitter between retries.
    retry_backoff: bool | None = None
    #: Seconds an attempt may run; enforced by the backend where it can, else at progress updates.
    timeout: float | None = None
    #: Whether ``update_progress`` writes progress.
    track_progress: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.func.__name__)
        Task.__post_init__(self)  # validate against the backend

    # Effective options (task value, else the settings' default).

    @property
    def effective_max_retries(self) -> int:
        """``max_retries`` or the settings' default."""
        return int(self.max_retries if self.max_retries is not None else task_settings.max_retries)

    @property
    def effective_retry_delay(self) -> float:
        """``retry_delay`` or the settings' default."""
        return float(self.retry_delay if self.retry_delay is not None else task_settings.retry_delay)

    @property
    def effective_retry_backoff(self) -> bool:
        """``retry_backoff`` or the settings' default."""
        return bool(self.retry_backoff if self.retry_backoff is not None else task_settings.retry_backoff)

    @property
    def effective_timeout(self) -> float | None:
        """``timeout`` or the settings' ``default_timeout``."""
        value = self.timeout if self.timeout is not None else task_settings.default_timeout
        return float(value) if value is not None else None


def task_options(task: Task[..., Any]) -> dict[str, Any]:
    """Rail options of any ``Task``: a plain Django ``Task`` gets the settings' defaults."""
    if isinstance(task, RailTask):
        return {
            "name": task.name,
            "max_retries": task.effective_max_retries,
            "retry_delay": task.effective_retry_delay,
            "retry_backoff": task.effective_retry_backoff,
            "timeout": task.effective_timeout,
            "track_progress": task.track_progress,
        }
    timeout = task_settings.default_timeout
    return {
        "name": task.name,
        "max_retries": int(task_settings.max_retries),
        "retry_delay": float(task_settings.retry_delay),
        "retry_backoff": bool(task_settings.retry_backoff),
        "timeout": float(timeout) if timeout is not None else None,
        "track_progress": True,
    }


@overload
def task(function: Callable[..., Any], /) -> RailTask: ...


@overload
def task(
    function: None = None,
    /,
    *,
    name: str = "",
    queue: str | None = None,
    priority: int = DEFAULT_TASK_PRIORITY,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    takes_context: bool = False,
    max_retries: int | None = None,
    retry_delay: float | None = None,
    retry_backoff: bool | None = None,
    timeout: float | None = None,
    track_progress: bool = True,
) -> Callable[[Callable[..., Any]], RailTask]: ...


def task(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str = "",
    queue: str | None = None,
    priority: int = DEFAULT_TASK_PRIORITY,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    takes_context: bool = False,
    max_retries: int | None = None,
    retry_delay: float | None = None,
    retry_backoff: bool | None = None,
    timeout: float | None = None,
    track_progress: bool = True,
) -> RailTask | Callable[[Callable[..., Any]], RailTask]:
    """Turn a module-level function into a tracked task.

    Works bare (``@task``) or with options::

        @rail_tasks.task(queue="orders", max_retries=5, retry_delay=60, timeout=300)
        def process_order(order_id: str) -> dict: ...

    :param name: display name; the function's name by default.
    :param queue: queue name (Django calls it ``queue_name``); ``default_queue`` by default.
    :param priority: -100 to 100, higher runs first where the backend supports it.
    :param backend: alias in ``TASKS``.
    :param takes_context: pass Django's task context as the first argument ``context``
        (``context.task`` is the progress handle).
    :param max_retries: retries after the first attempt.
    :param retry_delay: seconds before a retry.
    :param retry_backoff: exponential backoff with jitter.
    :param timeout: seconds an attempt may run.
    :param track_progress: whether ``update_progress`` writes progress.
    """

    def wrap(func: Callable[..., Any]) -> RailTask:
        return RailTask(
            func=func,
            name=name,
            queue_name=queue or str(task_settings.default_queue),
            priority=priority,
            backend=backend,
            takes_context=takes_context,
            run_after=None,
            max_retries=max_retries,
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            timeout=timeout,
            track_progress=track_progress,
        )

    if function is not None:
        return wrap(function)
    return wrap
