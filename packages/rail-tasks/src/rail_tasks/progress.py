"""The handle a running task uses to report progress and notice cancellation.

Inside a running task::

    handle = rail_tasks.current_task()
    handle.update_progress(50, "Processing...")

The same object is ``context.task`` for tasks declared with
``takes_context=True`` and ``info.context.task`` in GraphQL task mutations.

Outside a running task (``my_task.call(...)`` in a test or a shell) ``current_task()``
returns a :class:`DetachedTaskHandle`, whose ``update_progress`` does nothing, so task code
runs the same everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from rail_tasks.conf import task_settings
from rail_tasks.exceptions import TaskCancelled, TaskTimeout
from rail_tasks.hookcalls import hooks

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["DetachedTaskHandle", "TaskHandle", "current_task"]

_current: ContextVar[TaskHandle | None] = ContextVar("rail_tasks_current_task", default=None)


class TaskHandle:
    """Progress, cancellation and identity of the attempt that is running.

    Progress writes are throttled (``progress_throttle_seconds``): a value or
    message change is written at once unless the last write was more recent
    than the throttle, except that 100 and a new message are always written.
    Each write also reads whether cancellation was requested.
    """

    #: ``False`` on the handle of a running execution; ``True`` on :class:`DetachedTaskHandle`.
    detached = False

    def __init__(self, execution: TaskExecution, *, timeout: float | None = None) -> None:
        self.execution = execution
        self.attempt = execution.attempts
        self.timeout = timeout
        self._started = time.monotonic()
        self._last_write = 0.0
        self._last_value: tuple[int, str | None] | None = None
        self._cancelled = False

    @property
    def id(self) -> str:
        """The execution id (the Django ``TaskResult.id``)."""
        return str(self.execution.id)

    @property
    def name(self) -> str:
        """The task's display name."""
        return self.execution.name

    @property
    def progress(self) -> int:
        """The last progress value reported."""
        return self.execution.progress

    @property
    def is_cancelled(self) -> bool:
        """Whether cancellation was requested (reads the database at most once per throttle interval)."""
        if not self._cancelled and time.monotonic() - self._last_write >= self._throttle:
            self._refresh_cancel_flag()
        return self._cancelled

    @property
    def elapsed(self) -> float:
        """Seconds since this attempt started."""
        return time.monotonic() - self._started

    @property
    def _throttle(self) -> float:
        return float(task_settings.progress_throttle_seconds)

    def _refresh_cancel_flag(self) -> None:
        from rail_tasks.models import TaskExecution

        self._last_write = time.monotonic()
        flag = TaskExecution.objects.filter(pk=self.execution.pk).values_list("cancel_requested", flat=True).first()
        self._cancelled = bool(flag)

    def check(self) -> None:
        """Raise :class:`TaskCancelled` or :class:`TaskTimeout` if the attempt must stop."""
        if self.timeout is not None and self.elapsed > self.timeout:
            raise TaskTimeout(f"Task {self.name!r} ran longer than its timeout of {self.timeout:g}s")
        if self.is_cancelled:
            raise TaskCancelled(f"Task {self.name!r} was cancelled")

    def update_progress(self, progress: float, message: str | None = None) -> None:
        """Report progress (clamped to 0..100) with an optional message.

        Raises :class:`TaskCancelled` when cancellation was requested and
        :class:`TaskTimeout` when the attempt ran past its timeout, so the
        task stops right there.
        """
        value = max(0, min(100, int(progress)))
        if self.execution.track_progress and (value, message) != self._last_value:
            now = time.monotonic()
            must_write = value == 100 or (message is not None and message != self.execution.progress_message)
            if must_write or now - self._last_write >= self._throttle:
                self._last_value = (value, message)
                self._last_write = now
                if not self.execution.set_progress(self.attempt, value, message):
                    # The row is no longer ours (cancelled meanwhile, or the lease was taken over).
                    self._refresh_cancel_flag()
                    self._cancelled = True
                else:
                    hooks.progress(self.execution, value, message)
                    self._refresh_cancel_flag()
        self.check()


class DetachedTaskHandle(TaskHandle):
    """The handle of task code called outside a worker (``my_task.call(...)``, a test, a shell).

    Nothing is tracked: ``update_progress`` only remembers the value, ``check`` never raises,
    ``is_cancelled`` is ``False``, ``id`` and ``name`` are empty and ``attempt`` is 0.
    """

    detached = True

    def __init__(self) -> None:
        self.attempt = 0
        self.timeout = None
        self._started = time.monotonic()
        self._progress = 0

    @property
    def id(self) -> str:
        """Empty: no execution."""
        return ""

    @property
    def name(self) -> str:
        """Empty: no execution."""
        return ""

    @property
    def progress(self) -> int:
        """The last progress value reported (0..100)."""
        return self._progress

    @property
    def is_cancelled(self) -> bool:
        """Always ``False``: nobody can cancel a direct call."""
        return False

    def check(self) -> None:
        """Never raises."""

    def update_progress(self, progress: float, message: str | None = None) -> None:
        """Remember ``progress`` (clamped to 0..100); nothing is written or sent."""
        self._progress = max(0, min(100, int(progress)))


def current_task() -> TaskHandle:
    """The handle of the task running in this context; a :class:`DetachedTaskHandle` outside a task.

    ``current_task().detached`` tells them apart.
    """
    return _current.get() or DetachedTaskHandle()


@contextmanager
def activate(handle: TaskHandle) -> Iterator[TaskHandle]:
    """Make ``handle`` the current task for the duration of the block."""
    token = _current.set(handle)
    try:
        yield handle
    finally:
        _current.reset(token)
