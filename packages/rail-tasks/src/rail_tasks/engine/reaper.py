"""The reaper: no execution stays stuck when a worker dies or a message is lost.

One pass (:func:`reap`) over the executions of some ``TASKS`` aliases:

* a ``running`` attempt whose lease ran out (its worker was killed, or its
  machine vanished) that never started its task function goes back to the
  queue without cost; one that started is recorded as
  :class:`~rail_tasks.WorkerLost`, and the runner's retry rules apply;
* with ``resubmit_after``, a ``pending`` or ``retrying`` execution that has
  been due that long without starting is handed to its backend again (its
  message was lost: a broker restarted without persistence, a publish failed).
  A second message for an execution that did get through is harmless: the
  claim lets only one run.

The database worker runs :func:`reap` in its loop; broker engines run a
:class:`Reaper` thread in their worker's main process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from django.db import close_old_connections, connections
from django.db.models import Q
from django.tasks import task_backends
from django.utils import timezone

from rail_tasks.exceptions import WorkerLost
from rail_tasks.runner import fail_execution

__all__ = ["ReapReport", "Reaper", "reap", "reap_one"]

logger = logging.getLogger("rail_tasks.engine")

#: Most rows handled per kind and pass, so one pass stays short.
BATCH = 500


@dataclass
class ReapReport:
    """What one pass did."""

    lost: int = 0
    released: int = 0
    resubmitted: int = 0

    def __bool__(self) -> bool:
        return bool(self.lost or self.released or self.resubmitted)


def _submit_again(execution_id: str | UUID) -> bool:
    from rail_tasks.backends.base import RailBackend
    from rail_tasks.models import TaskExecution

    execution = TaskExecution.objects.filter(pk=execution_id).first()
    if execution is None:
        return False
    backend = task_backends[execution.backend]
    if isinstance(backend, RailBackend):
        backend.submit(execution, run_after=execution.run_after)
        return True
    return False


def _settle_expired(pk: str | UUID, attempt: int, owner: str | None, *, started: bool) -> str:
    """Settle one attempt whose lease ran out: ``"released"``, ``"lost"``, or ``""`` if it moved on meanwhile."""
    from rail_tasks.models import TaskExecution

    if not started and TaskExecution(pk=pk).release(attempt, unstarted_only=True):
        logger.warning(
            "Execution %s: %s was lost before attempt %d started; back in the queue, not counted",
            pk,
            owner or "a worker",
            attempt,
        )
        _submit_again(pk)  # a broker engine needs a new message; the database backend wakes its workers
        return "released"
    lost = WorkerLost(f"Worker lost: {owner or 'a worker'} stopped renewing its lease on attempt {attempt}")
    if fail_execution(pk, lost, attempt=attempt) is not None:
        logger.warning("Execution %s: lease of %s expired on attempt %d; worker presumed lost", pk, owner, attempt)
        return "lost"
    return ""


def reap_one(execution_id: str | UUID) -> str:
    """Settle ``execution_id`` now if its running attempt's lease ran out (a duplicate delivery found it).

    Returns ``"released"``, ``"lost"``, or ``""`` when there was nothing to do.
    """
    from rail_tasks.models import TaskExecution

    row = (
        TaskExecution.objects.filter(pk=execution_id)
        .lease_expired()
        .values_list("attempts", "worker_id", "attempt_started_at")
        .first()
    )
    if row is None:
        return ""  # finished, or a live attempt still renews its lease
    attempt, owner, started_at = row
    return _settle_expired(execution_id, attempt, owner, started=started_at is not None)


def reap(
    *,
    backends: Sequence[str],
    using: str | None = None,
    resubmit_after: float | None = None,
    recently_resubmitted: dict[str, float] | None = None,
    engines: Sequence[str] | None = None,
    limit: int = BATCH,
) -> ReapReport:
    """One recovery pass over the executions of the ``TASKS`` aliases ``backends``.

    :param using: database alias (the model's router by default).
    :param resubmit_after: seconds a due execution may wait unstarted before
        it is handed to its backend again; ``None`` never (the database
        backend needs no message).
    :param recently_resubmitted: ``{execution id: monotonic time}`` of earlier
        passes' resubmissions, updated in place, so one execution is not
        resubmitted on every pass.
    :param engines: only rows recorded for these backend class paths (the
        ``engine`` column; ``None``: any), so a worker never touches rows an
        alias enqueued under another engine before it was switched.
    """
    from rail_tasks.models import TaskExecution

    report = ReapReport()
    rows = TaskExecution.objects.using(using) if using else TaskExecution.objects.all()
    rows = rows.filter(backend__in=list(backends))
    if engines is not None:
        rows = rows.filter(engine__in=list(engines))
    expired = rows.lease_expired().values_list("pk", "attempts", "worker_id", "attempt_started_at")[:limit]
    for pk, attempt, owner, started_at in list(expired):
        outcome = _settle_expired(pk, attempt, owner, started=started_at is not None)
        report.released += outcome == "released"
        report.lost += outcome == "lost"
    if resubmit_after is not None:
        memory = recently_resubmitted if recently_resubmitted is not None else {}
        now = time.monotonic()
        for key in [k for k, at in memory.items() if now - at >= resubmit_after]:
            del memory[key]
        cutoff = timezone.now() - timedelta(seconds=resubmit_after)
        stale = rows.ready().filter(Q(run_after__isnull=True, created_at__lt=cutoff) | Q(run_after__lt=cutoff))
        for pk in stale.order_by("created_at").values_list("pk", flat=True)[:limit]:
            if str(pk) in memory:
                continue
            if _submit_again(pk):
                memory[str(pk)] = now
                report.resubmitted += 1
    return report


class Reaper:
    """A thread that runs :func:`reap` every ``interval`` seconds (broker engines' worker main process).

    :param backends: returns the ``TASKS`` aliases to reap (read on every pass).
    :param interval: seconds between passes.
    :param resubmit_after: see :func:`reap`.
    """

    def __init__(
        self, backends: Callable[[], Sequence[str]], *, interval: float = 30.0, resubmit_after: float | None = 300.0
    ) -> None:
        self.backends = backends
        self.interval = interval
        self.resubmit_after = resubmit_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resubmitted: dict[str, float] = {}

    def start(self) -> None:
        """Start the thread (no-op when there is nothing to reap)."""
        if self._thread is not None or not self.backends():
            return
        self._thread = threading.Thread(target=self._loop, name="rail-tasks-reaper", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, waiting briefly for a pass in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def run_once(self) -> ReapReport:
        """One pass now (also what the thread does)."""
        return reap(
            backends=self.backends(),
            resubmit_after=self.resubmit_after,
            recently_resubmitted=self._resubmitted,
        )

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                close_old_connections()
                report = self.run_once()
                if report:
                    logger.warning(
                        "rail-tasks reaper: %d lost attempt(s) recorded, %d unstarted claim(s) released, "
                        "%d execution(s) sent again",
                        report.lost,
                        report.released,
                        report.resubmitted,
                    )
            except Exception:
                logger.exception("rail-tasks reaper pass failed; trying again in %.0fs", self.interval)
            finally:
                connections.close_all()  # this process may fork children: hold no socket between passes
