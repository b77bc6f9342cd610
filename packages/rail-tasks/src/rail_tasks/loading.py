"""Which task an execution runs, and on which backend; a task this worker cannot import yet.

Only modules of installed apps (or of the ``task_modules`` setting) are
imported, so a forged row cannot make a worker import arbitrary code. A path
the web process accepted but this worker cannot import most likely means the
worker runs older code (a rolling deploy): the execution is handed back,
uncounted, and tried again later.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.tasks import Task, task_backends
from django.tasks.exceptions import InvalidTask, InvalidTaskBackend
from django.utils import timezone
from django.utils.module_loading import import_string

from rail_tasks.task_paths import task_path_allowed

if TYPE_CHECKING:
    from rail_tasks.backends.base import RailBackend
    from rail_tasks.models import TaskExecution

__all__ = ["DEPLOY_SKEW_MAX_DELAY", "DEPLOY_SKEW_SECONDS", "TaskNotImportable", "load_task"]

logger = logging.getLogger("rail_tasks")


def _registered(path: str) -> bool:
    """Whether ``path`` names a module of an installed app or of ``task_modules`` (so importing it is safe)."""
    return task_path_allowed(path)


def load_task(path: str) -> Task[..., Any]:
    """Import the task an execution names, refusing anything that is not a task.

    Only modules of installed apps are imported, so a forged row cannot make a
    worker import arbitrary code.
    """
    if not _registered(path):
        raise InvalidTask(
            f"{path!r} is not a registered task: its module is not part of an installed app (nor of task_modules)."
        )
    try:
        found = import_string(path)
    except ImportError as exc:
        raise TaskNotImportable(f"{path!r} is not a registered task: {exc}") from exc
    if not isinstance(found, Task):
        raise InvalidTask(f"{path!r} is not a registered task (found {type(found).__name__}).")
    return found


class TaskNotImportable(InvalidTask):
    """An installed app's task path that does not import in this process: often newer code than the worker's."""


#: A task that does not import is retried for this long after enqueue (a rolling deploy), then it fails.
DEPLOY_SKEW_SECONDS = 3600.0
#: Longest wait between two tries of a task that does not import.
DEPLOY_SKEW_MAX_DELAY = 300.0


def _wait_for_new_code(execution: TaskExecution, attempt: int, exc: TaskNotImportable, backend: RailBackend) -> bool:
    """Hand back an execution whose task this worker cannot import yet, uncounted and later; False past the window.

    The web process validated the path at enqueue, so a worker that cannot import it most likely runs
    older code: it gets the row again after a back-off that doubles with the execution's age (1 s to 5 min).
    """
    age = (timezone.now() - execution.created_at).total_seconds()
    if age > DEPLOY_SKEW_SECONDS:
        exc.args = (f"{exc} (for over {DEPLOY_SKEW_SECONDS:g}s: restart the workers after a deploy)",)
        return False
    delay = min(max(age, 1.0), DEPLOY_SKEW_MAX_DELAY)
    run_after = timezone.now() + timedelta(seconds=delay)
    if not execution.release(attempt, run_after=run_after):
        return True
    logger.warning(
        "Task %s (%s): %s. It was probably enqueued by newer code: the worker may need a restart. "
        "Trying again in %.0fs.",
        execution.name,
        execution.id,
        exc,
        delay,
    )
    backend.submit_on_commit(execution, run_after=run_after)
    return True


def _load_task_or_none(path: str) -> Task[..., Any] | None:
    """The task, or ``None`` when the row names none (the outcome is still recorded)."""
    try:
        return load_task(path)
    except InvalidTask:
        return None


def _backend_for(execution: TaskExecution) -> RailBackend | None:
    from rail_tasks.backends.base import RailBackend

    try:
        backend = task_backends[execution.backend]
    except (InvalidTaskBackend, KeyError):
        return None
    return backend if isinstance(backend, RailBackend) else None
