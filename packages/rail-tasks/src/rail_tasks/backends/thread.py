"""``thread``: a thread pool inside the web process (development)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import connections
from django.utils import timezone

from rail_tasks.backends.base import RailBackend
from rail_tasks.conf import SETTING_SPECS, SettingSpec, task_settings
from rail_tasks.engine import heartbeat
from rail_tasks.engine.delivery import deliver
from rail_tasks.engine.interrupts import ThreadInterrupts

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["ThreadBackend"]

logger = logging.getLogger("rail_tasks")

_INTERRUPTS = ThreadInterrupts()


class ThreadBackend(RailBackend):
    """Run tasks on a pool of ``max_workers`` threads in this process.

    Delays (``run_after``, retry backoff) are timers, not sleeps. Executions
    still waiting when the process exits are lost from memory but stay
    ``pending`` in the database. Priority orders nothing here (threads take
    tasks in submission order). Timeouts and cancel requests stop a running
    task through the engine kit's in-thread interrupts: the exception is
    raised at the task's next Python instruction (a task blocked in one long
    C call, such as a socket read without a timeout, sees it when that call
    returns).
    """

    supports_priority = True  # accepted and stored; the pool runs in submission order
    supports_timeout = True
    supports_cancel_running = True
    #: Seconds between two reads of cancel requests made in other processes (this process's are at once).
    cancel_check_seconds: ClassVar[float] = 2.0
    option_specs: ClassVar[Mapping[str, SettingSpec]] = {"max_workers": SETTING_SPECS["max_workers"]}

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

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> str:
        """Queue the execution on the pool, after a timer when it must wait; the execution id is the message id."""
        delay = (run_after - timezone.now()).total_seconds() if run_after else 0.0
        if delay > 0:
            timer = threading.Timer(delay, self._submit_now, args=(execution.pk,))
            timer.daemon = True
            with self._lock:
                self._timers.add(timer)
            timer.start()
        else:
            self._submit_now(execution.pk)
        return str(execution.pk)

    def cancel_running(self, execution: TaskExecution) -> None:
        """Wake the heartbeat, which reads the request and interrupts the task's thread."""
        heartbeat.poke()

    def _submit_now(self, execution_id: Any) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive()}
        self.pool.submit(self._run, execution_id)

    def _run(self, execution_id: Any) -> None:
        try:
            deliver(
                execution_id,
                worker_id=f"{threading.current_thread().name}",
                interrupts=_INTERRUPTS,
                heartbeat_seconds=self.cancel_check_seconds,
            )
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
