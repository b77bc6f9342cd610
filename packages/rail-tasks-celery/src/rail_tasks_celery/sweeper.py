"""The sweeper: a thread in each worker's main process that keeps no execution stuck.

Every ``sweep_interval`` seconds, for the backends whose Celery app this
worker serves:

* a ``running`` execution whose lease ran out (its whole worker was killed,
  or its machine vanished) is recorded as :class:`rail_tasks.WorkerLost`, and
  the core's retry rules send it again;
* a ``pending`` or ``retrying`` execution that has been due for more than
  ``resubmit_after`` seconds without starting is sent again: its message was
  lost (a Redis restart without persistence, a publish that failed while the
  broker was down). A second message for an execution that did get through is
  harmless: the core's claim lets only one run.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from celery import Celery
from django.conf import settings
from django.db import close_old_connections, connections
from django.db.models import Q
from django.tasks import task_backends
from django.utils import timezone

from rail_tasks import WorkerLost, fail_execution

__all__ = ["Sweeper"]

logger = logging.getLogger("rail_tasks.celery")

#: Most rows handled per kind and pass, so one pass stays short.
BATCH = 500


class Sweeper:
    """Periodic recovery for the rail-tasks backends served by one Celery app."""

    def __init__(self, app: Celery) -> None:
        self.app = app
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resubmitted: dict[str, float] = {}

    def backends(self) -> list[object]:
        """The ``CeleryBackend`` instances (one per ``TASKS`` alias) that send through this app."""
        from rail_tasks_celery.backend import CeleryBackend

        found: list[object] = []
        for alias in getattr(settings, "TASKS", {}):
            try:
                backend = task_backends[alias]
            except Exception:  # noqa: S112 - a broken alias is reported by Django's checks
                continue
            if isinstance(backend, CeleryBackend) and backend.app is self.app:
                found.append(backend)
        return found

    def start(self) -> None:
        """Start the thread (no-op when no backend uses this app)."""
        if self._thread is not None or not self.backends():
            return
        self._thread = threading.Thread(target=self._loop, name="rail-tasks-celery-sweeper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting briefly for a pass in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        from rail_tasks_celery.backend import CeleryBackend

        while True:
            backends = [b for b in self.backends() if isinstance(b, CeleryBackend)]
            interval = min((b.sweep_interval for b in backends), default=30.0)
            if self._stop.wait(interval):
                return
            try:
                close_old_connections()
                for backend in backends:
                    self.sweep(backend)
            except Exception:
                logger.exception("rail-tasks-celery sweep failed; trying again in %.0fs", interval)
            finally:
                connections.close_all()  # this process forks pool children: hold no socket between passes

    def sweep(self, backend: object) -> tuple[int, int]:
        """One pass for ``backend``; returns (lost attempts recorded, executions sent again)."""
        from rail_tasks import TaskExecution
        from rail_tasks_celery.backend import CeleryBackend

        assert isinstance(backend, CeleryBackend)
        rows = TaskExecution.objects.filter(backend=backend.alias)
        lost = 0
        for execution_id, attempts, worker_id in rows.lease_expired().values_list("pk", "attempts", "worker_id")[
            :BATCH
        ]:
            error = WorkerLost(
                f"Worker lost: {worker_id or 'the worker'} stopped renewing its lease on attempt {attempts}"
            )
            if fail_execution(execution_id, error, attempt=attempts) is not None:
                lost += 1
        cutoff = timezone.now() - timedelta(seconds=backend.resubmit_after)
        stale = rows.ready().filter(Q(run_after__isnull=True, created_at__lt=cutoff) | Q(run_after__lt=cutoff))
        now = time.monotonic()
        self._resubmitted = {k: t for k, t in self._resubmitted.items() if now - t < backend.resubmit_after}
        sent = 0
        for execution in stale.order_by("created_at")[:BATCH]:
            key = str(execution.pk)
            if key in self._resubmitted:
                continue
            backend.submit(execution)
            self._resubmitted[key] = now
            sent += 1
        if lost or sent:
            logger.warning(
                "rail-tasks-celery sweep (%s): %d lost attempt(s) recorded, %d execution(s) sent again",
                backend.alias,
                lost,
                sent,
            )
        return lost, sent
