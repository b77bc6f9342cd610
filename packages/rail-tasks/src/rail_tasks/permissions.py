"""Who may do what with an execution, and what each viewer is shown of its failure.

One rule for every surface (REST, GraphQL queries, mutations and subscriptions,
the admin), through Django's model permissions:

* the **owner** (the user who enqueued) sees their executions and may cancel
  them, and may retry their own *failed* executions;
* ``rail_tasks.view_taskexecution`` sees every execution, with tracebacks and
  raw error messages;
* ``rail_tasks.cancel_taskexecution`` / ``rail_tasks.retry_taskexecution``
  cancel / retry executions the user can see (an operator needs the view
  permission too, to see other people's executions at all);
* superusers have every permission; ``is_staff`` alone grants **nothing**;
* inactive and anonymous users see nothing.

Retrying a *cancelled* execution needs the retry permission, also for its
owner: a cancel may come from an operator, and the owner must not undo it.

Functions take any object with the model's attribute names (``owner_id``,
``status``, ``error``, ``exception_class``, ``traceback``), so a subscription
event's snapshot is judged like a row.
"""

from __future__ import annotations

from typing import Any

from rail_tasks.conf import task_settings
from rail_tasks.status import Status

__all__ = [
    "CANCEL_PERMISSION",
    "RETRY_PERMISSION",
    "VIEW_PERMISSION",
    "is_owner",
    "may_cancel",
    "may_retry",
    "may_see_details",
    "may_view",
    "may_view_all",
    "shown_error",
    "shown_traceback",
]

#: See every execution, with tracebacks and raw error messages.
VIEW_PERMISSION = "rail_tasks.view_taskexecution"
#: Cancel an execution that is not one's own.
CANCEL_PERMISSION = "rail_tasks.cancel_taskexecution"
#: Retry an execution that is not one's own, or a cancelled one.
RETRY_PERMISSION = "rail_tasks.retry_taskexecution"

#: Exceptions whose messages rail-tasks writes itself and which name nothing private:
#: their messages are shown to owners as they are.
SAFE_MESSAGE_CLASSES = frozenset(
    {
        "rail_tasks.exceptions.TaskCancelled",
        "rail_tasks.exceptions.TaskTimeout",
        "rail_tasks.exceptions.InvalidTaskResult",
        "rail_tasks.limits.ResultTooLarge",
    }
)


def _active(user: Any) -> bool:
    return user is not None and bool(user.is_authenticated) and bool(getattr(user, "is_active", True))


def _has(user: Any, permission: str) -> bool:
    return _active(user) and bool(user.has_perm(permission))


def is_owner(user: Any, execution: Any) -> bool:
    """Whether ``user`` (active) enqueued ``execution``."""
    owner_id = getattr(execution, "owner_id", None)
    return _active(user) and owner_id is not None and str(owner_id) == str(user.pk)


def may_view_all(user: Any) -> bool:
    """Whether ``user`` sees every execution (``rail_tasks.view_taskexecution``; superusers)."""
    return _has(user, VIEW_PERMISSION)


def may_view(user: Any, execution: Any) -> bool:
    """Whether ``user`` may see ``execution`` at all (owner, or the view permission)."""
    return is_owner(user, execution) or may_view_all(user)


def may_see_details(user: Any, execution: Any) -> bool:
    """Whether ``user`` sees the traceback and the raw error message (the view permission)."""
    return may_view_all(user)


def may_cancel(user: Any, execution: Any) -> bool:
    """Whether ``user`` may cancel ``execution``: its owner, or a viewer with the cancel permission."""
    if is_owner(user, execution):
        return True
    return may_view_all(user) and _has(user, CANCEL_PERMISSION)


def may_retry(user: Any, execution: Any) -> bool:
    """Whether ``user`` may retry ``execution``.

    A viewer with the retry permission may retry what they see; an owner
    without it may retry their own *failed* executions only (never a cancelled
    one: the cancel may be an operator's).
    """
    if not may_view(user, execution):
        return False
    if _has(user, RETRY_PERMISSION):
        return True
    return is_owner(user, execution) and str(execution.status) == Status.FAILED


def _short_class(path: str) -> str:
    return path.rpartition(".")[2] or "Exception"


def shown_error(user: Any, execution: Any) -> str | None:
    """The error message ``user`` is shown, or ``None`` when there is none.

    Viewers with the view permission see the raw message. Owners see it only for
    rail-tasks' own exceptions (:data:`SAFE_MESSAGE_CLASSES`) or when the task
    setting ``expose_error_messages`` is on; otherwise the exception's class name
    and a fixed sentence, since a raw message can carry anything (another
    account's name, a DSN with its password, host names and process ids).
    """
    error = getattr(execution, "error", "") or ""
    if not error:
        return None
    exception_class = getattr(execution, "exception_class", "") or ""
    if may_see_details(user, execution) or exception_class in SAFE_MESSAGE_CLASSES:
        return str(error)
    if task_settings.expose_error_messages:
        return str(error)
    return f"{_short_class(exception_class)}: the task failed (details are hidden)."


def shown_traceback(user: Any, execution: Any) -> str | None:
    """The traceback for viewers with the view permission; ``None`` for everyone else."""
    if not may_see_details(user, execution):
        return None
    return getattr(execution, "traceback", "") or None
