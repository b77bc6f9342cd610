"""How the database worker stops: gracefully on the first signal, at once on the second.

On SIGTERM/SIGINT the supervisor claims nothing more, hands the claimed rows
it has not started back to the queue (uncounted), and waits up to
``shutdown_grace_seconds`` for running tasks; a second signal (or the end of
the grace period) ends the children and hands their executions back too.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from rail_tasks.backends.database.child import Assignment, ChildProcess
from rail_tasks.backends.database.guard import DatabaseGuard
from rail_tasks.backends.database.leases import release
from rail_tasks.backends.database.options import WorkerOptions
from rail_tasks.backends.database.shutdown import ShutdownSignals

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["Stopping"]


class Stopping:
    """The stopping half of :class:`~rail_tasks.backends.database.supervisor.Worker` (a mixin of its state)."""

    options: WorkerOptions
    children: list[ChildProcess]
    buffer: deque[tuple[TaskExecution, float]]
    db: DatabaseGuard
    signals: ShutdownSignals
    stopping: bool
    grace_deadline: float
    _log: Callable[[str], None]

    def _read_messages(self, child: ChildProcess, now: float) -> Assignment | None:
        raise NotImplementedError  # the Worker's

    def _release_buffer(self) -> None:
        """Hand every claimed, unstarted row back to the queue, uncounted."""
        while self.buffer:
            execution, _ = self.buffer.popleft()
            pk, attempt = str(execution.pk), execution.attempts
            self.db.record(f"releasing {pk}", release, pk, attempt)

    def _begin_stop(self, now: float) -> None:
        self.stopping = True
        self.grace_deadline = now + self.options.grace
        running = sum(1 for child in self.children if child.busy)
        if self.signals.last_signal is None:  # --burst, --max-tasks or stop() from code: nobody to signal again
            self._log(f"rail-tasks worker {self.options.worker_id}: stopping; waiting for {running} running task(s)")
        else:
            self._log(
                f"rail-tasks worker {self.options.worker_id}: stopping; waiting up to {self.options.grace:g}s "
                f"for {running} running task(s) (signal again to stop now)"
            )
        self._release_buffer()

    def _hard_stop(self) -> None:
        for child in list(self.children):
            self._read_messages(child, time.monotonic())
            if child.busy:
                child.kill()
            while child.assigned:
                item = child.assigned.popleft()
                self._log(f"rail-tasks worker {self.options.worker_id}: handing execution {item.pk} back to the queue")
                self.db.record(f"releasing {item.pk}", release, item.pk, item.attempt)
        self._release_buffer()

    def _shutdown_children(self) -> None:
        for child in self.children:
            if not child.busy:
                child.ask_to_exit()
        deadline = time.monotonic() + 5
        for child in self.children:
            try:
                child.process.join(max(0.0, deadline - time.monotonic()))
            except (AssertionError, ValueError):
                continue
            if child.process.is_alive():
                child.process.kill()
                child.process.join(1)
            child.close()
        self.children.clear()
