"""What the database worker holds: claimed rows waiting in its buffer or in a child's pipe, and their starts.

Every held execution is ``running`` in the database at one attempt; the
supervisor renews their leases, recognises a cancel request for one of them,
records when each one's task function starts (an attempt counts from then),
and hands back rows that waited too long for a busy child.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from rail_tasks.backends.database.child import ChildProcess
from rail_tasks.backends.database.guard import DatabaseGuard
from rail_tasks.backends.database.leases import mark_started, release
from rail_tasks.backends.database.options import WorkerOptions
from rail_tasks.backends.database.pacing import Pacing

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["Holdings"]


class Holdings:
    """The holdings half of :class:`~rail_tasks.backends.database.supervisor.Worker` (a mixin of its state)."""

    options: WorkerOptions
    using: str
    children: list[ChildProcess]
    buffer: deque[tuple[TaskExecution, float]]
    db: DatabaseGuard
    pacing: Pacing
    claimed: int

    def _mark_started(self, now: float) -> None:
        """Record which claimed attempts have started (an attempt counts once its task started).

        Claims wait in the buffer or a child's pipe before they start; if this
        worker dies, the reaper hands unstarted ones back without cost. One
        ``UPDATE`` per pass, after the hand-off, off the task's path.
        """
        started = [item for child in self.children for item in child.assigned if item.started and not item.marked]
        if not started or not self.db.ready(now):
            return
        with self.db.attempt("recording started attempts"):
            mark_started([(item.pk, item.attempt) for item in started], using=self.using)
            for item in started:
                item.marked = True

    def _release_stale_buffer(self, now: float) -> None:
        """Give back claimed rows that waited too long for a busy child (tasks turned out long)."""
        while self.buffer and now - self.buffer[0][1] >= self.options.prefetch_hold_seconds:
            execution, _ = self.buffer.popleft()
            self.claimed -= 1
            self.pacing.slow_down()
            pk, attempt = str(execution.pk), execution.attempts
            self.db.record(f"releasing {pk}", release, pk, attempt)

    # -- leases, cancels, lost workers ------------------------------------------

    def _holding(self) -> bool:
        """Whether the worker holds any execution (cheaper than :meth:`_held`)."""
        return bool(self.buffer) or any(child.assigned for child in self.children)

    def _held(self) -> list[tuple[str, int]]:
        held = [(item.pk, item.attempt) for child in self.children for item in child.assigned]
        held.extend((str(execution.pk), execution.attempts) for execution, _ in self.buffer)
        return held

    def _attempt_of(self, pk: str) -> int | None:
        for child in self.children:
            for item in child.assigned:
                if item.pk == pk:
                    return item.attempt
        for execution, _ in self.buffer:
            if str(execution.pk) == pk:
                return execution.attempts
        return None
