"""The worker: a supervisor process that claims executions and runs each in a child process.

The supervisor alone talks to the queue: it claims ready rows in small
batches, hands one at a time to each idle child, renews the leases of what it
holds, ends a child whose task ran past its ``timeout`` or was cancelled,
notices a child that died, and gives back what it holds on shutdown. Children
only run :func:`rail_tasks.runner.run_claimed_execution`, so every status
change still happens in the core's runner (or, for failures seen from
outside the task, in :func:`~rail_tasks.runner.fail_execution` and
:func:`~rail_tasks.runner.finish_cancelled_execution`).

A database error never ends the worker: the connection is closed, the work
that needed it is retried with a growing back-off (0.5 s to 10 s), and the
loop carries on.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.db import connections

from rail_tasks.backends.database.child import Assignment, ChildProcess
from rail_tasks.backends.database.claim import claim_batch
from rail_tasks.backends.database.guard import DatabaseGuard
from rail_tasks.backends.database.holdings import Holdings
from rail_tasks.backends.database.listening import ListenerLink
from rail_tasks.backends.database.options import WorkerOptions
from rail_tasks.backends.database.pacing import COALESCE_SECONDS, Pacing
from rail_tasks.backends.database.shutdown import ShutdownSignals
from rail_tasks.backends.database.stopping import Stopping
from rail_tasks.backends.database.waiter import Waiter
from rail_tasks.engine.leases import renew_leases
from rail_tasks.engine.process import worker_started, worker_stopping
from rail_tasks.engine.reaper import reap
from rail_tasks.exceptions import TaskTimeout, WorkerLost
from rail_tasks.runner import fail_execution, finish_cancelled_execution

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["Worker"]

logger = logging.getLogger("rail_tasks.worker")


class Worker(Holdings, Stopping):
    """Run executions of the ``database`` backend until stopped.

    ``Worker(WorkerOptions(concurrency=2)).run()`` blocks until SIGTERM/SIGINT
    (or ``max_tasks``, or an empty queue with ``burst``) and returns the exit
    status (0). Must run in the main thread (signal handlers).
    """

    def __init__(self, options: WorkerOptions, *, log: Callable[[str], None] | None = None) -> None:
        self.options = options.resolve()
        self.using = self.options.using
        self._log = log or logger.info
        self.signals = ShutdownSignals()
        self.link = ListenerLink(self.using)
        self.waiter = Waiter()
        self.children: list[ChildProcess] = []
        #: Claimed, not yet handed to a child: ``(execution, claimed at)``.
        self.buffer: deque[tuple[TaskExecution, float]] = deque()
        #: Back-off after database errors, and the writes that must happen.
        self.db = DatabaseGuard()
        self.finished = 0
        self.claimed = 0
        self.stopping = False
        self.grace_deadline = 0.0
        self.maybe_more = True
        self.empty_claim_since_done = False
        self.pacing = Pacing()
        now = time.monotonic()
        self.next_poll = now
        self.next_heartbeat = now + self.options.heartbeat
        self.next_cancel_check = now
        self.next_reap = now
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self.context = multiprocessing.get_context(method)

    # -- public ---------------------------------------------------------------

    def describe(self) -> str:
        """The start-up line: who, which backend and database, queues, concurrency, intervals."""
        settings = connections[self.using].settings_dict
        vendor = connections[self.using].vendor
        queues = ", ".join(self.options.queues) if self.options.queues else "all"
        wakeup = "LISTEN/NOTIFY" if self.link.supported else f"polling every {self.options.poll:g}s"
        return (
            f"rail-tasks worker {self.options.worker_id}: backend {', '.join(self.options.backends)} (database), "
            f"{vendor} database {settings.get('NAME')!s} ({self.using}), queues: {queues}, "
            f"concurrency {self.options.concurrency}, lease {self.options.lease:g}s, "
            f"heartbeat {self.options.heartbeat:g}s, wake-up: {wakeup}"
        )

    def stop(self, hard: bool = False) -> None:
        """Ask the worker to stop, like SIGTERM (or a second SIGTERM when ``hard``)."""
        self.signals.request(2 if hard else 1)

    def run(self) -> int:
        """Run until stopped; returns the exit status."""
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("The rail-tasks worker must run in the main thread (it handles signals).")
        self._log(self.describe())
        self.signals.install()
        worker_started(self.options.worker_id)
        try:
            if self.link.connect(time.monotonic()):
                self.maybe_more = True
            for _ in range(self.options.concurrency):
                self._spawn()
            while self._tick():
                pass
        finally:
            self._shutdown_children()
            self.db.flush(final=True)
            self.link.close()
            self.signals.uninstall()
            self.signals.close()
            worker_stopping()
            connections.close_all()
        self._log(f"rail-tasks worker {self.options.worker_id}: stopped after {self.finished} task(s)")
        return 0

    # -- the loop ---------------------------------------------------------------

    def _tick(self) -> bool:
        """One pass of the loop; ``False`` once the worker should exit."""
        now = time.monotonic()
        if self.waiter.is_ready(self.signals):
            self.signals.clear()
        if self.signals.stage >= 1 and not self.stopping:
            self._begin_stop(now)
        if self.stopping and (self.signals.stage >= 2 or now >= self.grace_deadline):
            self._hard_stop()
            return False
        self._collect(now)
        self.db.flush()
        self._enforce_timeouts(now)
        if not self.stopping:
            self._release_stale_buffer(now)
        self._heartbeat(now)
        self._check_cancels(now)
        self._reap(now)
        self._listen(now)
        if self.stopping:
            for child in self.children:
                if not child.busy:
                    child.ask_to_exit()
            if not any(child.busy for child in self.children) and not self.db.outbox:
                return False
        else:
            self._fill(now)
            self._mark_started(now)
            if self._done():
                self.signals.request(1)
                return True
        self._wait(now)
        return True

    def _done(self) -> bool:
        busy = any(child.busy for child in self.children)
        if self.options.max_tasks is not None and self.finished >= self.options.max_tasks:
            return not busy
        return self.options.burst and not busy and not self.buffer and self.empty_claim_since_done

    def _wait(self, now: float) -> None:
        objects: list[Any] = [self.signals]
        deadlines = [now + self.options.poll]
        may_claim = self._may_claim(self._capacity())
        if may_claim:
            deadlines.append(self.next_poll)
        if self.link.connected:
            objects.append(self.link.listener)
        elif self.link.supported:
            deadlines.append(self.link.retry_at)
        for child in self.children:
            objects.extend((child.conn, child.process.sentinel))
            running = child.running
            if running is not None and running.deadline is not None:
                deadlines.append(running.deadline)
        if self._holding():
            deadlines.append(self.next_heartbeat)
        if any(child.busy for child in self.children):
            deadlines.append(self.next_cancel_check)
        if self.buffer:
            deadlines.append(self.buffer[0][1] + self.options.prefetch_hold_seconds)
        if self.db.outbox or self.db.retry_at > now:
            deadlines.append(max(self.db.retry_at, now + 0.05))
        if self.stopping:
            deadlines.append(self.grace_deadline)
        if self.maybe_more and may_claim:
            deadlines.append(max(self.db.retry_at, now))
        deadlines.append(self.next_reap)
        timeout = max(0.0, min(deadlines) - time.monotonic())
        if timeout > 0 and self._saturated():
            # Every child has its next task queued: let a few reports gather, then handle them in one pass.
            time.sleep(min(timeout, COALESCE_SECONDS))
            timeout = 0.0
        self.waiter.wait(objects, timeout)

    def _saturated(self) -> bool:
        """Whether every child has work queued behind its running task (a late wake-up idles nobody)."""
        if self.stopping or not self.pacing.coalesce:
            return False
        return all(len(child.assigned) >= 2 for child in self.children if not child.exiting)

    # -- children -----------------------------------------------------------------

    def _spawn(self) -> ChildProcess:
        connections.close_all()  # a child must not share this process's sockets
        child = ChildProcess.start(self.context)
        self.children.append(child)
        return child

    def _replace(self, child: ChildProcess) -> None:
        """End ``child`` and start another; what waited in its pipe goes back to the buffer."""
        waiting = child.take_waiting()
        child.assigned.clear()
        child.kill()
        self.children.remove(child)
        now = time.monotonic()
        self.buffer.extendleft((execution, now) for execution in reversed(waiting))
        if not self.stopping:
            self._spawn()

    def _collect(self, now: float) -> None:
        """Read what children reported; notice children that exited."""
        for child in list(self.children):
            if not self.waiter.is_ready(child.conn, child.process.sentinel):
                continue  # nothing to read, still alive (its sentinel would be ready otherwise)
            self._read_messages(child, now)
            if child.process.is_alive():
                continue
            running = self._read_messages(child, now)
            if running is not None:
                pk, attempt, code = running.pk, running.attempt, child.process.exitcode
                lost = WorkerLost(f"Worker lost: the process running attempt {attempt} exited (exit code {code})")
                logger.error("Execution %s: child process %s exited (code %s) mid-task", pk, child.process.pid, code)
                self.db.record(f"recording lost {pk}", fail_execution, pk, lost, attempt=attempt)
                self.finished += 1
            self._replace(child)

    def _read_messages(self, child: ChildProcess, now: float) -> Assignment | None:
        """Handle the child's reports; return what it is running now."""
        try:
            while child.conn.poll():
                message = child.conn.recv()
                if message[0] == "started":
                    child.on_started(message[1], message[2])
                else:
                    self._on_done(child, message, now)
        except (EOFError, OSError):
            pass
        return child.running

    def _on_done(self, child: ChildProcess, message: tuple[str, str, str], now: float) -> None:
        _, pk, error = message
        done = child.finished(pk, now)
        if done is None:
            return
        self.finished += 1
        self.maybe_more = True
        self.empty_claim_since_done = False
        self.pacing.observe(None if done.started is None else now - done.started, now)
        if error:
            lost = WorkerLost(f"Worker could not record the outcome of attempt {done.attempt}: {error}")
            self.db.record(f"recording failure of {pk}", fail_execution, pk, lost, attempt=done.attempt)
        limit = self.options.max_tasks_per_child
        if limit is not None and child.tasks_started >= limit and not child.busy:
            child.ask_to_exit()

    def _room_in_children(self) -> int:
        depth = self.pacing.depth
        return sum(max(0, depth - len(child.assigned)) for child in self.children if not child.exiting)

    def _capacity(self) -> int:
        """Executions the worker could hand out now (idle children, plus one each when prefetching)."""
        room = self._room_in_children() + self.pacing.prefetch(len(self.children)) - len(self.buffer)
        if self.options.max_tasks is not None:
            room = min(room, self.options.max_tasks - self.claimed)
        return max(room, 0)

    def _fill(self, now: float) -> None:
        """Claim when there is room and work may be waiting; hand claimed rows to idle children."""
        self._dispatch(now)
        room = self._capacity()
        if self._may_claim(room) and (self.maybe_more or now >= self.next_poll) and self.db.ready(now):
            rows: list[TaskExecution] = []
            with self.db.attempt("claiming"):
                rows = claim_batch(
                    using=self.using,
                    backends=self.options.backends,
                    queues=self.options.queues,
                    limit=room,
                    worker_id=self.options.worker_id,
                    lease_seconds=self.options.lease,
                )
            interval = self.pacing.poll_interval(self.options.poll, now, found=bool(rows), notified=self.link.supported)
            self.next_poll = now + interval
            self.claimed += len(rows)
            self.maybe_more = len(rows) == room
            if not rows:
                self.empty_claim_since_done = True
            self.buffer.extend((row, now) for row in rows)
            self._dispatch(now)

    def _may_claim(self, room: int) -> bool:
        """Whether a claim is wanted once work is known to wait: there is ``room`` and the buffer is low.

        Claims top up in batches: the next one is made once the buffer is down
        to a couple of spares per child (enough to keep children busy while
        the claim runs).
        """
        return room > 0 and not self.stopping and len(self.buffer) <= 2 * len(self.children)

    def _dispatch(self, now: float) -> None:
        depth = self.pacing.depth
        limit = self.options.max_tasks_per_child
        for level in range(depth):  # one each to idle children first, then a second to pipeline
            for child in self.children:
                if not self.buffer:
                    return
                if child.exiting or len(child.assigned) > level:
                    continue
                if limit is not None and child.tasks_started >= limit:
                    continue
                execution, claimed_at = self.buffer.popleft()
                try:
                    child.run(execution, now)
                except (BrokenPipeError, OSError):
                    self.buffer.appendleft((execution, claimed_at))  # the child died; noticed on the next pass

    def _enforce_timeouts(self, now: float) -> None:
        for child in list(self.children):
            running = child.running
            if running is None or running.deadline is None or now < running.deadline:
                continue
            running = self._read_messages(child, now)
            if running is None or running.deadline is None or now < running.deadline:
                continue
            pk, attempt = running.pk, running.attempt
            elapsed = now - (running.running_since or now)
            error = TaskTimeout(f"Task ran longer than its timeout ({elapsed:.1f}s); its process was ended")
            logger.warning("Execution %s attempt %d timed out; ending its process", pk, attempt)
            self.finished += 1
            self._replace(child)
            self.db.record(f"recording timeout of {pk}", fail_execution, pk, error, attempt=attempt)

    def _heartbeat(self, now: float) -> None:
        if now < self.next_heartbeat or not self.db.ready(now):
            return
        held = self._held()
        lost: set[str] = set()
        with self.db.attempt("renewing leases"):
            lost = renew_leases(held, self.options.lease, using=self.using).lost
            self.next_heartbeat = now + self.options.heartbeat
        if not held:
            self.next_heartbeat = now + self.options.heartbeat
        for pk in lost:
            if self._drop(pk, now):
                logger.warning("Execution %s: lease lost (taken over after it expired); stopping this attempt", pk)

    def _drop(self, pk: str, now: float) -> bool:
        """Stop holding ``pk``: end the child it was handed to, or forget it in the buffer. ``True`` if held."""
        for child in list(self.children):
            if any(item.pk == pk for item in child.assigned):
                self._read_messages(child, now)
                if not any(item.pk == pk for item in child.assigned):
                    return False  # it finished meanwhile
                child.assigned = type(child.assigned)(item for item in child.assigned if item.pk != pk)
                if child.assigned:
                    child.assigned[0].started = child.assigned[0].started or now
                self._replace(child)
                return True
        for entry in list(self.buffer):
            if str(entry[0].pk) == pk:
                self.buffer.remove(entry)
                return True
        return False

    def _check_cancels(self, now: float, ids: set[str] | None = None) -> None:
        if ids is None:
            if now < self.next_cancel_check or not self.db.ready(now):
                return
            self.next_cancel_check = now + self.options.cancel_check_seconds
            held = self._held()
            if not held:
                return
            ids = set()
            with self.db.attempt("checking cancel requests"):
                ids = renew_leases(held, None, using=self.using).cancel_requested
        for pk in ids:
            attempt = self._attempt_of(pk)
            if attempt is None:
                continue
            if self._drop(pk, now):
                logger.info("Execution %s attempt %d cancelled; its process was ended", pk, attempt)
                self.db.record(f"cancelling {pk}", finish_cancelled_execution, pk, attempt=attempt)

    def _reap(self, now: float) -> None:
        if now < self.next_reap or not self.db.ready(now):
            return
        with self.db.attempt("reaping expired leases"):
            reap(using=self.using, backends=self.options.backends)
        self.next_reap = now + max(0.5, min(self.options.lease / 2, 30.0))

    def _listen(self, now: float) -> None:
        was_connected = self.link.connected
        if self.link.connect(now):
            self.maybe_more = True  # notifications may have been missed while disconnected
        if was_connected and not self.waiter.is_ready(self.link.listener):
            return  # nothing arrived on the LISTEN socket
        cancels, queues = self.link.receive(now)
        if cancels:
            self._check_cancels(now, cancels)
        if queues and (not self.options.queues or queues & set(self.options.queues)):
            self.maybe_more = True
