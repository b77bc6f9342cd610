"""The typed, contained way the core calls plugin hooks: ``hooks.complete(execution, result)``.

Core code never calls ``pm.hook.rail_tasks_x(...)`` untyped: each hook has one
method here. Each implementation is called on its own, so one that raises is
logged with its plugin's name (logger ``rail_tasks.plugins``) and the others
still run; a plugin's execution context can neither raise into nor swallow the
task's outcome. Plugin loading lives in :mod:`rail_tasks.plugins`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, Literal

from django.core.exceptions import ImproperlyConfigured

from rail_tasks.plugins import get_plugin_manager

if TYPE_CHECKING:
    from django.tasks import Task

    from rail_tasks.models import TaskExecution

__all__ = ["hooks"]

logger = logging.getLogger("rail_tasks.plugins")


class _Hooks:
    """Typed facade over the hooks; the only way core code calls them."""

    def _each(self, name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        caller = getattr(get_plugin_manager().hook, name)
        for impl in reversed(caller.get_hookimpls()):
            try:
                result = impl.function(*(kwargs[arg] for arg in impl.argnames))
            except Exception:
                logger.exception("rail-tasks plugin %r raised in hook %s; ignored", impl.plugin_name, name)
                continue
            yield impl.plugin_name, result

    def _call(self, name: str, **kwargs: Any) -> None:
        for _ in self._each(name, **kwargs):
            pass

    def register_backends(self) -> dict[str, str]:
        """Collect ``{name: dotted path}`` from every plugin; duplicates are an error."""
        found: dict[str, tuple[str, str]] = {}
        pm = get_plugin_manager()
        for impl in reversed(pm.hook.rail_tasks_register_backends.get_hookimpls()):

            def register(name: str, path: str, _plugin: str = impl.plugin_name) -> None:
                if name in found and found[name][1] != _plugin:
                    raise ImproperlyConfigured(
                        f"Backend name {name!r} is registered by both {found[name][1]!r} and {_plugin!r}."
                    )
                found[name] = (path, _plugin)

            try:
                impl.function(register)
            except ImproperlyConfigured:
                raise
            except Exception:
                logger.exception("rail-tasks plugin %r raised in hook rail_tasks_register_backends", impl.plugin_name)
        return {name: path for name, (path, _) in found.items()}

    def enqueue_metadata(
        self,
        task: Task[..., Any],
        args: list[Any],
        kwargs: dict[str, Any],
        retry_of: TaskExecution | None = None,
    ) -> dict[str, Any]:
        """Merge what plugins attach to a new execution (or a manual retry of ``retry_of``)."""
        merged: dict[str, Any] = {}
        contributions = self._each(
            "rail_tasks_enqueue_metadata", task=task, args=args, kwargs=kwargs, retry_of=retry_of
        )
        for plugin_name, contributed in contributions:
            if contributed is None:
                continue
            try:
                if not isinstance(contributed, dict):
                    raise TypeError(f"expected a dict, got {type(contributed).__name__}")
                json.dumps(contributed, allow_nan=False)
            except (TypeError, ValueError) as exc:
                logger.error(
                    "rail-tasks plugin %r returned metadata that is not a JSON object (%s); ignored", plugin_name, exc
                )
                continue
            merged.update(contributed)
        return merged

    def enqueue(self, execution: TaskExecution) -> None:
        """Fire ``rail_tasks_enqueue`` then ``notify('enqueued')``."""
        self._call("rail_tasks_enqueue", execution=execution)
        self.notify(execution, "enqueued")

    def submitted(self, execution: TaskExecution, message_id: str) -> None:
        """Fire ``rail_tasks_submitted``."""
        self._call("rail_tasks_submitted", execution=execution, message_id=message_id)

    def worker_start(self, worker_id: str) -> None:
        """Fire ``rail_tasks_worker_start``."""
        self._call("rail_tasks_worker_start", worker_id=worker_id)

    def worker_stop(self, worker_id: str) -> None:
        """Fire ``rail_tasks_worker_stop``."""
        self._call("rail_tasks_worker_stop", worker_id=worker_id)

    def cancel_requested(self, execution: TaskExecution) -> None:
        """Fire ``rail_tasks_cancel_requested``."""
        self._call("rail_tasks_cancel_requested", execution=execution)

    def start(self, execution: TaskExecution) -> None:
        """Fire ``rail_tasks_start`` then ``notify('started')``."""
        self._call("rail_tasks_start", execution=execution)
        self.notify(execution, "started")

    @contextmanager
    def execution_context(self, execution: TaskExecution) -> Iterator[None]:
        """Enter every plugin's context manager around the task call, each one contained."""
        with ExitStack() as stack:
            for plugin_name, cm in self._each("rail_tasks_execution_context", execution=execution):
                if cm is None:
                    continue
                try:
                    stack.enter_context(_Contained(cm, plugin_name))
                except Exception:
                    logger.exception("rail-tasks plugin %r failed entering its execution context", plugin_name)
            yield

    def progress(self, execution: TaskExecution, progress: int, message: str | None) -> None:
        """Fire ``rail_tasks_progress`` then ``notify('progress')``."""
        self._call("rail_tasks_progress", execution=execution, progress=progress, message=message)
        self.notify(execution, "progress")

    def complete(self, execution: TaskExecution, result: Any) -> None:
        """Fire ``rail_tasks_complete`` then ``notify('completed')``."""
        self._call("rail_tasks_complete", execution=execution, result=result)
        self.notify(execution, "completed")

    def fail(self, execution: TaskExecution, error: BaseException, will_retry: bool) -> None:
        """Fire ``rail_tasks_fail`` then ``notify('retrying' | 'failed')``."""
        self._call("rail_tasks_fail", execution=execution, error=error, will_retry=will_retry)
        self.notify(execution, "retrying" if will_retry else "failed")

    def cancel(self, execution: TaskExecution) -> None:
        """Fire ``rail_tasks_cancel`` then ``notify('cancelled')``."""
        self._call("rail_tasks_cancel", execution=execution)
        self.notify(execution, "cancelled")

    def notify(self, execution: TaskExecution, event: str) -> None:
        """Fire ``rail_tasks_notify``."""
        self._call("rail_tasks_notify", execution=execution, event=event)


class _Contained(AbstractContextManager[Any]):
    """Wrap a plugin's context manager so its ``__exit__`` can neither raise nor swallow."""

    def __init__(self, cm: AbstractContextManager[Any], plugin_name: str) -> None:
        self.cm = cm
        self.plugin_name = plugin_name

    def __enter__(self) -> Any:
        return self.cm.__enter__()

    def __exit__(self, *exc_info: Any) -> Literal[False]:
        try:
            self.cm.__exit__(*exc_info)
        except Exception as exc:
            if exc is not exc_info[1]:  # re-raising the task's own exception is not a plugin failure
                logger.exception("rail-tasks plugin %r failed leaving its execution context", self.plugin_name)
        return False  # never swallow the task's exception


#: The hook facade core code calls: ``hooks.complete(execution, result)``.
hooks = _Hooks()
