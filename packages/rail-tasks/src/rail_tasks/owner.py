"""Who is enqueuing: the owner recorded on new executions.

Only the owner, and users with the view permission, see an execution (:mod:`rail_tasks.permissions`).
Set the owner for a block of code with :func:`acting_as`, or for every request
with :class:`rail_tasks.middleware.TaskOwnerMiddleware`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["acting_as", "get_current_owner"]

_owner: ContextVar[Any] = ContextVar("rail_tasks_owner", default=None)


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Record ``user`` as the owner of executions enqueued inside the block.

    ::

        with rail_tasks.acting_as(request.user):
            generate_report.enqueue(dataset_id)
    """
    token = _owner.set(user)
    try:
        yield
    finally:
        _owner.reset(token)


def get_current_owner() -> Any:
    """The user set by :func:`acting_as` (or the middleware), else ``None``."""
    return _owner.get()
