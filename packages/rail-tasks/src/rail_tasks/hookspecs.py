"""Hook specifications: the whole contract between rail-tasks and its plugins.

A plugin is a module (or object) with functions named after these specs and
marked with :data:`rail_tasks.hookimpl`. Implementations may accept any subset
of a spec's arguments (pluggy passes only the ones they name), so specs grow
only by adding arguments.

Every hook call is contained: an implementation that raises is logged on the
``rail_tasks.plugins`` logger with its plugin's name and never changes a
task's outcome or stops the other plugins. Implementations run in pluggy's
order (the most recently registered plugin first; ``tryfirst``/``trylast``
move one). Wrapper implementations are refused: use
:func:`rail_tasks_execution_context` to surround a task. Each spec has a
section in ``docs/hooks.md`` and a ``test_hook_<name>`` test.

"Web process" below means wherever ``enqueue`` is called (a view, a shell, a
task enqueuing another); "worker" means wherever the execution runs (a
database worker, a Celery worker, a thread of the thread backend, inline for
``sync``).

The protocol of one execution
-----------------------------

Web process (where ``enqueue`` is called)::

    rail_tasks_enqueue_metadata        before the INSERT
    rail_tasks_enqueue                 after the INSERT
      rail_tasks_notify("enqueued")
    Django signal task_enqueued
    -- the transaction commits --
    rail_tasks_submitted               after the backend handed the message to its engine

Worker, one attempt (the runner; every engine)::

    Django signal task_started
    rail_tasks_start
      rail_tasks_notify("started")
    rail_tasks_execution_context       entered
      the task function                  (rail_tasks_progress + notify("progress") per update)
      the outcome, recorded while the context is still open:
        rail_tasks_complete  + notify("completed") + Django signal task_finished
      | rail_tasks_fail      + notify("retrying")                              (a retry follows)
      | rail_tasks_fail      + notify("failed")    + Django signal task_finished
      | rail_tasks_cancel    + notify("cancelled") + Django signal task_finished
    rail_tasks_execution_context       exited (with the task's exception, if it raised)

An outcome recorded outside the task's process (a hard timeout that ended the
process, a lost worker found by the reaper, a cancel that ended a database
worker's child) fires the same outcome hooks once, in the process that
recorded it, without an execution context. ``rail_tasks_worker_start`` and
``rail_tasks_worker_stop`` bracket every process that runs attempts or records
their outcomes. ``tests/rail_tasks/test_hooks.py`` holds this order.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from django.tasks import Task

    from rail_tasks.models import TaskExecution

hookspec = pluggy.HookspecMarker("rail_tasks")

# ---------------------------------------------------------------------------
# Registration (called once, when plugins are loaded)
# ---------------------------------------------------------------------------


@hookspec
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Contribute backends that users can select by short name.

    :param register: ``register(name, dotted_path)``; ``name`` is what users write
        in ``RAIL_TASKS["backend"]`` (``"celery"``), ``dotted_path`` the backend
        class (``"rail_tasks_celery.CeleryBackend"``). Registering a name twice is
        an error naming both plugins.

    Called once per process when the app registry is ready and whenever the
    backend names are resolved. The return value is not used.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Enqueue (web process)
# ---------------------------------------------------------------------------


@hookspec
def rail_tasks_enqueue_metadata(
    task: Task[..., Any], args: list[Any], kwargs: dict[str, Any], retry_of: TaskExecution | None
) -> dict[str, Any] | None:
    """Attach metadata that travels with the execution to the worker.

    :param task: the ``django.tasks.Task`` being enqueued.
    :param args: positional arguments, already JSON-normalised.
    :param kwargs: keyword arguments, already JSON-normalised.
    :param retry_of: on a manual retry (``retry_execution``, the admin's or
        GraphQL's retry), the finished execution about to run again, with the
        metadata of its earlier enqueue; ``None`` for a new enqueue.
    :returns: a JSON-serialisable dict merged into ``TaskExecution.metadata``
        (on equal keys the implementation called last wins), or ``None``. A
        value that is not a JSON object is logged and dropped.

    Called in the web process before the execution row is inserted, and again
    on each manual retry (a retry gets fresh context). Use it to propagate
    context, for example a trace's ``traceparent``.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 ``retry_of``; also called on manual retries.
    """


@hookspec
def rail_tasks_enqueue(execution: TaskExecution) -> None:
    """An execution was created and is about to be handed to its engine.

    :param execution: the new row (status ``pending``), ``metadata`` included.

    Called in the web process after the INSERT and before the backend submits
    the message (which waits for the transaction to commit, if one is open).
    The return value is not used.

    .. versionadded:: 0.1
    """


@hookspec
def rail_tasks_submitted(execution: TaskExecution, message_id: str) -> None:
    """The backend handed the execution's message to its engine.

    :param execution: the row (``pending``, or ``retrying`` for a retry's re-submission).
    :param message_id: the engine's id for the message (a Celery task id, a
        Dramatiq message id, a Django-Q2 task id; the execution id for the
        ``sync``, ``thread`` and ``database`` backends).

    Called once the enqueuing transaction committed (never for a rolled-back
    enqueue), in the process that submitted, after the engine accepted the
    message; not called when handing it over failed (the reaper resends it
    later). The return value is not used.

    .. versionadded:: 0.2
    """


# ---------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------


@hookspec
def rail_tasks_worker_start(worker_id: str) -> None:
    """A process that runs attempts (or records their outcomes) started.

    :param worker_id: the process's worker id (``host:pid`` or the engine's name for it).

    Called once per process: a database worker's supervisor and each of its
    children, each Celery pool process, each Dramatiq or Django-Q2 worker
    process. Use it to set up per-process resources (exporters, clients).
    The return value is not used.

    .. versionadded:: 0.2
    """


@hookspec
def rail_tasks_worker_stop(worker_id: str) -> None:
    """A process that ran attempts is about to exit.

    :param worker_id: as given to :func:`rail_tasks_worker_start`.

    Called once, when the engine lets the process end cleanly (not on
    SIGKILL). Flush what must not be lost here: telemetry exporters, buffers.
    The return value is not used.

    .. versionadded:: 0.2
    """


# ---------------------------------------------------------------------------
# Running (worker)
# ---------------------------------------------------------------------------


@hookspec
def rail_tasks_start(execution: TaskExecution) -> None:
    """An attempt has claimed the execution and is about to call the task.

    :param execution: the row, now ``running``; ``attempts`` counts this attempt.

    Called in the worker, after the claim and before the task function. The
    return value is not used.

    .. versionadded:: 0.1
    """


@hookspec
def rail_tasks_execution_context(execution: TaskExecution) -> AbstractContextManager[Any] | None:
    """Wrap the call of the task function, for example in a tracing span.

    :param execution: the running row; ``metadata`` holds what
        :func:`rail_tasks_enqueue_metadata` attached.
    :returns: a context manager entered just before the task function runs and
        exited after the attempt's outcome was recorded and its outcome hooks
        (``complete``, ``fail``, ``cancel``) fired, so a span can end with the
        outcome; the task's exception, if it raised, is passed to
        ``__exit__``. ``None`` for no context. A context manager cannot
        swallow the task's exception: the outcome is recorded as it happened.

    Called in the worker, once per attempt.

    .. versionadded:: 0.1
    .. versionchanged:: 0.2 outcome hooks fire before the context exits.
    """


@hookspec
def rail_tasks_progress(execution: TaskExecution, progress: int, message: str | None) -> None:
    """A running task reported progress.

    :param execution: the running row with the new progress applied.
    :param progress: the clamped value, 0 to 100.
    :param message: the progress message, or ``None`` when the task gave none.

    Called in the worker from ``update_progress`` each time the value or the
    message changes. The return value is not used.

    .. versionadded:: 0.1
    """


# ---------------------------------------------------------------------------
# Outcome (worker, or wherever the execution is cancelled)
# ---------------------------------------------------------------------------


@hookspec
def rail_tasks_complete(execution: TaskExecution, result: Any) -> None:
    """An attempt finished successfully.

    :param execution: the row, now ``completed``.
    :param result: the JSON-normalised return value, as stored.

    Called in the worker after the row was updated. The return value is not used.

    .. versionadded:: 0.1
    """


@hookspec
def rail_tasks_fail(execution: TaskExecution, error: BaseException, will_retry: bool) -> None:
    """An attempt failed.

    :param execution: the row, now ``retrying`` (``will_retry``) or ``failed``.
    :param error: the exception; :class:`rail_tasks.TaskTimeout` for a timeout,
        :class:`rail_tasks.WorkerLost` when the process running it vanished.
    :param will_retry: whether another attempt is scheduled.

    Called in the worker (or, for a lost worker, in the process that noticed)
    after the row was updated. The return value is not used.

    .. versionadded:: 0.1
    """


@hookspec
def rail_tasks_cancel(execution: TaskExecution) -> None:
    """An execution was cancelled.

    :param execution: the row, now ``cancelled``.

    Called where the cancellation took effect: in the caller's process for a
    waiting execution, in the worker for a running one. The return value is not
    used.

    .. versionadded:: 0.1
    """


@hookspec
def rail_tasks_cancel_requested(execution: TaskExecution) -> None:
    """Cancellation of a running execution was requested; its worker stops it shortly.

    :param execution: the row, still ``running``, with ``cancel_requested`` set.

    Called in the process that asked (a view, the admin, a GraphQL mutation).
    The outcome arrives later through :func:`rail_tasks_cancel` in the worker.
    The return value is not used.

    .. versionadded:: 0.2
    """


@hookspec
def rail_tasks_notify(execution: TaskExecution, event: str) -> None:
    """Every change of an execution, for listeners (subscriptions, webhooks).

    :param execution: the row after the change.
    :param event: one of ``enqueued``, ``started``, ``progress``, ``completed``,
        ``retrying``, ``failed``, ``cancelled``.

    Called after the specific hook of the same change, in the same process.
    The return value is not used.

    .. versionadded:: 0.1
    """
