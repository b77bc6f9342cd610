"""``thread``: a thread pool inside the web process (development)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import close_old_connections, connections
from django.utils import timezone

from rail_tasks.backends.base import RailBackend
from rail_tasks.conf import task_settings
from rail_tasks.runner import run_execution

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["ThreadBackend"]

logger = logging.getLogger("rail_tasks")


class ThreadBackend(RailBackend):
    """Run tasks on a pool of ``max_workers`` threads in this process.

    Delays (``run_after``, retry backoff) are timers, not sleeps. Executions
    still waiting when the process exits are lost from memory but stay
    ``pending`` in the database. Priority orders nothing here (threads take
    tasks in submission order). Timeouts are checked only at ``update_progress``
    calls, and a running task is cancelled only at its next ``update_progress``:
    Python cannot stop a thread from outside.
    """

    supports_priority = True  # accepted and stored; the pool runs in submission order

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.max_workers = int(self.options.get("max_workers", task_settings.max_workers))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._timers: set[threading.Timer] = set()

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The thread pool, created on first use."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.max_workers, thread_name_prefix=f"rail-tasks-{self.alias}"
                )
            return self._pool

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> None:
        """Queue the execution on the pool, after a timer when it must wait."""
        delay = (run_after - timezone.now()).total_seconds() if run_after else 0.0
        if delay > 0:
            timer = threading.Timer(delay, self._submit_now, args=(execution.pk,))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            self._submit_now(execution.pk)

    def _submit_now(self, execution_id: Any) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive()}
        self.pool.submit(self._run, execution_id)

    def _run(self, execution_id: Any) -> None:
        close_old_connections()
        try:
            run_execution(execution_id, worker_id=f"{threading.current_thread().name}")
        except Exception:
            logger.exception("Thread backend failed running execution %s", execution_id)
        finally:
            connections.close_all()

    def shutdown(self, wait: bool = True) -> None:
        """Stop timers and the pool (waits for running tasks when ``wait``)."""
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait)
