"""Heartbeats and cancel checks for the executions a worker holds.

A worker renews the lease of every execution it holds (running in a child,
or claimed and about to be handed to one) every ``heartbeat_seconds``. A
renewal that no longer matches ``running`` at the same attempt means the
row was taken away (the lease ran out and another worker reaped it): the
worker must stop that attempt, whose writes the fencing would reject anyway.

Transitions go through the model (its default manager routes them to the
database that holds ``TaskExecution``).
"""

from __future__ import annotations

from collections.abc import Iterable

from rail_tasks.models import TaskExecution
from rail_tasks.status import Status

__all__ = ["cancel_requested", "release", "renew_leases"]


def renew_leases(held: Iterable[tuple[str, int]], *, lease_seconds: float) -> set[str]:
    """Extend the lease of each ``(execution id, attempt)``; return the ids no longer held."""
    lost: set[str] = set()
    for pk, attempt in held:
        if not TaskExecution(pk=pk).renew_lease(attempt, lease_seconds):
            lost.add(pk)
    return lost


def cancel_requested(held: Iterable[str], *, using: str) -> set[str]:
    """The ids among ``held`` whose cancellation was requested."""
    ids = list(held)
    if not ids:
        return set()
    rows = TaskExecution.objects.using(using).filter(pk__in=ids, status=Status.RUNNING, cancel_requested=True)
    return {str(pk) for pk in rows.values_list("pk", flat=True)}


def release(pk: str, attempt: int) -> bool:
    """Hand a held attempt back to the queue uncounted (shutdown, or claimed but never started)."""
    return TaskExecution(pk=pk).release(attempt)
