"""How far ahead the worker claims and hands out, from how long recent tasks took.

Long tasks: claim only for idle children. Short ones: claim a few more and
queue the next task in each child's pipe, so children never wait for the
supervisor. Tiny ones: deeper queues, bigger claims, and wake-ups that handle
several children's reports at once.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pacing"]

#: Prefetch one execution per child while recent tasks are shorter than this (seconds).
SHORT_TASK = 0.25
#: ... two per child (one waiting in the pipe) and bigger claims while they are shorter than this.
VERY_SHORT_TASK = 0.05
#: ... and four per child, with coalesced wake-ups, while they are shorter than this.
TINY_TASK = 0.005
#: While every child has work queued behind its running task, wake at most this often (seconds).
COALESCE_SECONDS = 0.002
#: Without NOTIFY (SQLite), poll every FAST_POLL seconds for FAST_POLL_WINDOW seconds after activity.
FAST_POLL = 0.01
FAST_POLL_WINDOW = 2.0


@dataclass
class Pacing:
    """Recent task duration (a moving average) and what follows from it."""

    #: Seconds; starts between "short" and "very short" until measured.
    average_duration: float = 0.1
    #: Monotonic time work was last found or finished.
    last_activity: float = 0.0

    def observe(self, duration: float | None, now: float) -> None:
        """A task finished at ``now`` after ``duration`` seconds (``None``: its start is unknown)."""
        self.last_activity = now
        if duration is not None:
            self.average_duration = 0.8 * self.average_duration + 0.2 * duration

    def slow_down(self) -> None:
        """Claimed rows waited too long for a child: tasks turned out long, stop prefetching deep."""
        self.average_duration = max(self.average_duration, SHORT_TASK)

    @property
    def depth(self) -> int:
        """Assignments per child: queued in its pipe behind the running one while tasks are very short."""
        if self.average_duration < TINY_TASK:
            return 4
        return 2 if self.average_duration < VERY_SHORT_TASK else 1

    @property
    def coalesce(self) -> bool:
        """Whether the supervisor may let reports gather before handling them (tiny tasks, deep queues)."""
        return self.depth >= 4

    def prefetch(self, children: int) -> int:
        """Claimed rows to keep beyond what the children hold."""
        if self.average_duration < VERY_SHORT_TASK:
            return children * 8  # a few ms of work each: claim in bigger batches
        if self.average_duration < SHORT_TASK:
            return children
        return 0

    def poll_interval(self, poll: float, now: float, *, found: bool, notified: bool) -> float:
        """The idle poll interval; without NOTIFY, poll fast for a moment after activity (bursts come in a row)."""
        if found:
            self.last_activity = now
        if notified or now - self.last_activity > FAST_POLL_WINDOW:
            return poll
        return min(poll, FAST_POLL)
