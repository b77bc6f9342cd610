"""The child process: runs one claimed execution at a time through the core's runner.

The supervisor sends ``("run", execution)`` and reads back
``("done", execution_id, error)``; ``("exit", None)`` ends the child. The
child ignores SIGINT/SIGTERM (the supervisor decides when work stops, even
when a terminal or systemd signals the whole process group) and dies with its
parent (``PR_SET_PDEATHSIG`` on Linux, a parent check elsewhere), so a worker
killed outright leaves no task running behind its lease.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections, connections

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["ChildProcess", "child_main"]

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
    from rail_tasks.runner import run_claimed_execution

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
    connections.close_all()


@dataclass(eq=False)
class ChildProcess:
    """The supervisor's handle on one child: its process, pipe and current work."""

    process: BaseProcess
    conn: Connection
    #: ``(execution id, attempt, deadline or None, started monotonic)`` while running one.
    running: tuple[str, int, float | None, float] | None = None
    tasks_started: int = 0
    exiting: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

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
        """Whether the child is running an execution."""
        return self.running is not None

    def run(self, execution: TaskExecution, deadline: float | None, now: float) -> None:
        """Hand ``execution`` to the child."""
        self.conn.send(("run", execution))
        self.running = (str(execution.pk), execution.attempts, deadline, now)
        self.tasks_started += 1

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
