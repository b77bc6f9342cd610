"""``RailMiddleware``: what a Dramatiq worker process does for rail-tasks besides running the actor.

* remembers the message each worker thread is processing (the actor names
  its attempt after it);
* fires ``rail_tasks_worker_start`` / ``rail_tasks_worker_stop`` once per
  worker process;
* runs the kit's :class:`~rail_tasks.engine.Reaper` in one process of each
  ``dramatiq`` command (the first to take a lock named after the command's pid);
* closes a worker thread's database connections when the thread ends (Django
  keeps one connection per thread).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from django.db import connections
from dramatiq import Broker, Middleware, Worker
from dramatiq.broker import MessageProxy

from rail_tasks.engine import Reaper, worker_started, worker_stopping

__all__ = ["RailMiddleware", "current_message"]

logger = logging.getLogger("rail_tasks.dramatiq")

_local = threading.local()


def current_message() -> MessageProxy | None:
    """The message the calling worker thread is processing, if any."""
    return getattr(_local, "message", None)


class RailMiddleware(Middleware):
    """Per-process and per-thread duties of a worker serving rail-tasks backends.

    :param aliases: returns the ``TASKS`` aliases this worker serves (the reaper's scope).
    """

    def __init__(self, aliases: Callable[[], Sequence[str]], *, reap_interval: float, resubmit_after: float) -> None:
        self.aliases = aliases
        self.reap_interval = reap_interval
        self.resubmit_after = resubmit_after
        self.reaper: Reaper | None = None
        self._lock_file: Any = None

    def before_process_message(self, broker: Broker, message: MessageProxy) -> None:
        """Remember the message this thread processes."""
        _local.message = message

    def after_process_message(
        self, broker: Broker, message: MessageProxy, *, result: Any = None, exception: BaseException | None = None
    ) -> None:
        """Forget it."""
        _local.message = None

    after_skip_message = after_process_message

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        """Fire ``rail_tasks_worker_start``; start the reaper if this process wins the command's lock."""
        worker_started(f"dramatiq:{socket.gethostname()}:{os.getpid()}")
        if self._elected():
            self.reaper = Reaper(self.aliases, interval=self.reap_interval, resubmit_after=self.resubmit_after)
            self.reaper.start()
            logger.info("rail-tasks reaper runs in worker process %d (every %gs)", os.getpid(), self.reap_interval)

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Stop the reaper before the worker threads stop."""
        if self.reaper is not None:
            self.reaper.stop()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        """Fire ``rail_tasks_worker_stop`` once the last task of this process ended."""
        worker_stopping()

    def before_worker_thread_shutdown(self, broker: Broker, thread: threading.Thread) -> None:
        """Close the connections this worker thread opened (Django keeps them per thread)."""
        connections.close_all()

    def _elected(self) -> bool:
        """Whether this process holds its ``dramatiq`` command's reaper lock (held until the process exits)."""
        path = Path(tempfile.gettempdir()) / f"rail-tasks-dramatiq-reaper-{socket.gethostname()}-{os.getppid()}.lock"
        handle = path.open("a")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        with contextlib.suppress(OSError):
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        self._lock_file = handle
        return True
