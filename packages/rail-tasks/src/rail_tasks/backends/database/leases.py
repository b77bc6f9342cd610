"""The database worker's writes about attempts it holds: starts, and hand-backs.

Lease renewal and cancel requests go through the engine kit's
:func:`rail_tasks.engine.renew_leases`, shared with every engine.
"""

from __future__ import annotations

from collections.abc import Sequence

from rail_tasks.models import TaskExecution

__all__ = ["mark_started", "release"]


def mark_started(held: Sequence[tuple[str, int]], *, using: str) -> int:
    """Record that each ``(execution id, attempt)`` started its task function."""
    return TaskExecution.objects.using(using).mark_started(held)


def release(pk: str, attempt: int) -> bool:
    """Hand a held attempt back to the queue uncounted (shutdown, or claimed but never started)."""
    return TaskExecution(pk=pk).release(attempt)
