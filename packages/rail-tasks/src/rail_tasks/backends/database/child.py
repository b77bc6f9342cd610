"""The child process: runs one claimed execution at a time through the core's runner.

The supervisor sends ``("run", execution)`` and reads back
``("started", execution_id, monotonic time)`` then ``("done", execution_id,
error)``; ``("exit", None)`` ends the child. The child ignores SIGINT/SIGTERM
(the supervisor decides when work stops, even when a terminal or systemd
signals the whole process group) and dies with its parent
(``PR_SET_PDEATHSIG`` on Linux, a parent check elsewhere), so a worker killed
outright leaves no task running behind its lease.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from django.db import close_old_connections, connections

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["Assignment", "ChildProcess", "child_main"]

logger = logging.getLogger("rail_tasks.worker")

_PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            logger.debug("prctl(PR_SET_PDEATHSIG) unavailable", exc_info=True)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def child_main(conn: Connection, parent_pid: int) -> None:
    """Entry point of a child process: run executions until told to exit or the pipe closes."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    import django
    from django.apps import apps

    if not apps.ready:  # "spawn" start method: a fresh interpreter
        django.setup()
    from rail_tasks.engine.process import worker_started, worker_stopping
    from rail_tasks.runner import run_claimed_execution

    worker_started(f"rail-tasks-child:{os.getpid()}")
    while True:
        try:
            kind, payload = conn.recv()
        except (EOFError, OSError):
            break
        if kind != "run":
            break
        execution: TaskExecution = payload
        error = ""
        close_old_connections()
        try:
            # The supervisor's clock of a hard timeout starts here (CLOCK_MONOTONIC is system-wide),
            # not at the hand-off: a fresh child on a busy machine may take a while to get here.
            conn.send(("started", str(execution.pk), time.monotonic()))
        except (BrokenPipeError, OSError):
            break
        try:
            run_claimed_execution(execution)
        except Exception as exc:
            # The runner records every failure of the task itself; reaching here means the
            # database failed under it. The supervisor records the attempt as failed.
            logger.exception("Execution %s: the runner could not record its outcome", execution.pk)
            error = f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}"
            connections.close_all()
        else:
            close_old_connections()
        try:
            conn.send(("done", str(execution.pk), error))
        except (BrokenPipeError, OSError):
            break
    worker_stopping()
    connections.close_all()


@dataclass(eq=False)
class Assignment:
    """One execution handed to a child: the first of a child's assignments is running."""

    execution: TaskExecution
    timeout: float | None
    #: Monotonic time the child started it (``None`` while it waits behind another).
    started: float | None = None
    #: Whether the start was recorded in the database (see ``Worker._mark_started``).
    marked: bool = False
    #: Monotonic time the child reported entering the runner (the hard timeout counts from here).
    running_since: float | None = None
    #: The execution id.
    pk: str = field(init=False)
    #: The attempt that owns the row.
    attempt: int = field(init=False)

    def __post_init__(self) -> None:
        self.pk = str(self.execution.pk)
        self.attempt = self.execution.attempts

    @property
    def deadline(self) -> float | None:
        """When a hard timeout ends it (monotonic), once the child reported that it runs it."""
        if self.timeout is None or self.running_since is None:
            return None
        return self.running_since + self.timeout


@dataclass(eq=False)
class ChildProcess:
    """The supervisor's handle on one child: its process, pipe and assignments.

    Very short tasks are pipelined (one waits in the pipe behind the running
    one) so the child never waits for the supervisor between two tasks.
    """

    process: BaseProcess
    conn: Connection
    assigned: deque[Assignment] = field(default_factory=deque)
    tasks_started: int = 0
    exiting: bool = False

    @classmethod
    def start(cls, context: multiprocessing.context.BaseContext) -> ChildProcess:
        """Start a child (database connections of this process must be closed first)."""
        parent_conn, child_conn = context.Pipe(duplex=True)
        process = context.Process(  # type: ignore[attr-defined]
            target=child_main, args=(child_conn, os.getpid()), name="rail-tasks-child", daemon=False
        )
        process.start()
        child_conn.close()
        return cls(process=process, conn=parent_conn)

    @property
    def busy(self) -> bool:
        """Whether the child has work (running or waiting in its pipe)."""
        return bool(self.assigned)

    @property
    def running(self) -> Assignment | None:
        """The assignment the child is running now."""
        return self.assigned[0] if self.assigned else None

    def run(self, execution: TaskExecution, now: float) -> None:
        """Hand ``execution`` to the child (it starts once the child is free)."""
        self.conn.send(("run", execution))
        timeout = float(execution.timeout) if execution.timeout else None
        self.assigned.append(Assignment(execution, timeout, None if self.assigned else now))
        self.tasks_started += 1

    def finished(self, pk: str, now: float) -> Assignment | None:
        """The child reported ``pk`` done: the next assignment starts now. Returns the finished one."""
        if not self.assigned or self.assigned[0].pk != pk:
            return None
        done = self.assigned.popleft()
        if self.assigned:
            self.assigned[0].started = now
        return done

    def on_started(self, pk: str, at: float) -> None:
        """The child reported that it entered the runner for ``pk`` at monotonic time ``at``."""
        if self.assigned and self.assigned[0].pk == pk:
            self.assigned[0].running_since = at

    def take_waiting(self) -> list[TaskExecution]:
        """Remove and return the assignments that never started (after the child is ended)."""
        waiting = [item.execution for item in list(self.assigned)[1:]]
        while len(self.assigned) > 1:
            self.assigned.pop()
        return waiting

    def ask_to_exit(self) -> None:
        """Tell an idle child to exit once its pipe is read."""
        if not self.exiting:
            self.exiting = True
            with contextlib.suppress(BrokenPipeError, OSError):
                self.conn.send(("exit", None))

    def kill(self) -> None:
        """End the child at once (SIGKILL) and reap it."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.close()

    def close(self) -> None:
        """Release the pipe and the process object."""
        with contextlib.suppress(OSError):
            self.conn.close()
        with contextlib.suppress(ValueError):  # still running: closed on the next reap
            self.process.close()
