"""Claiming ready executions, and giving lost ones back to the queue.

PostgreSQL (and any database with ``SKIP LOCKED``): one short transaction
locks up to ``limit`` ready rows with ``SELECT ... FOR UPDATE SKIP LOCKED``,
so concurrent workers never wait for each other, then claims them with the
model's fenced bulk transition. SQLite has no row locks: the same transaction
(``BEGIN IMMEDIATE`` with ``"transaction_mode": "IMMEDIATE"``) serialises
claimers, and the claim is a single conditional ``UPDATE ... WHERE id IN
(SELECT ... LIMIT n)``, atomic even without it. Either way the rows claimed
are read back by the claim's own timestamp, so only rows this worker really
claimed are returned.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import connections, transaction
from django.db.models.expressions import RawSQL
from django.utils import timezone

from rail_tasks.exceptions import WorkerLost
from rail_tasks.models import TaskExecution
from rail_tasks.runner import fail_execution
from rail_tasks.status import READY_STATUSES, Status

__all__ = ["claim_batch", "reap_expired_leases"]

logger = logging.getLogger("rail_tasks.worker")


def claim_batch(
    *,
    using: str,
    backends: Sequence[str],
    queues: Sequence[str],
    limit: int,
    worker_id: str,
    lease_seconds: float,
) -> list[TaskExecution]:
    """Claim up to ``limit`` ready executions, highest priority first, then oldest.

    :param backends: ``TASKS`` aliases whose rows this worker runs.
    :param queues: queue names; empty for every queue.
    :returns: the claimed rows (status ``running``, one more attempt, leased).
    """
    if limit <= 0:
        return []
    now = timezone.now()
    executions = TaskExecution.objects.using(using)
    connection = connections[using]
    if connection.vendor == "sqlite":
        ready_ids: Any = _sqlite_ready_ids(using, backends, queues, now, limit)
        with connection.cursor() as cursor:  # look before taking the database-wide write lock
            cursor.execute(ready_ids.sql, ready_ids.params)
            if cursor.fetchone() is None:
                return []
    else:
        ready = executions.ready(now).filter(backend__in=list(backends))
        if queues:
            ready = ready.filter(queue__in=list(queues))
        ready = ready.order_by("-priority", "created_at")
        if connection.features.has_select_for_update_skip_locked:
            ready = ready.select_for_update(skip_locked=True)
        ready_ids = ready.values("pk")[:limit]
    with transaction.atomic(using=using):
        if connection.vendor == "sqlite":
            # Under the write lock (BEGIN IMMEDIATE): pick the ids on the ready index, then claim them
            # by primary key (an "IN (subquery)" UPDATE would walk every waiting row there).
            with connection.cursor() as cursor:
                cursor.execute(ready_ids.sql, ready_ids.params)
                ids = [row[0] for row in cursor.fetchall()]
            claimed = executions.filter(pk__in=ids).claim(worker_id, lease_seconds, now=now) if ids else 0
        elif connection.features.allow_sliced_subqueries_with_in:
            # One statement: UPDATE ... WHERE id IN (SELECT ... [FOR UPDATE SKIP LOCKED] LIMIT n).
            claimed = executions.filter(pk__in=ready_ids).claim(worker_id, lease_seconds, now=now)
        else:
            ids = list(ready_ids.values_list("pk", flat=True))
            claimed = executions.filter(pk__in=ids).claim(worker_id, lease_seconds, now=now) if ids else 0
        if not claimed:
            return []
        # The rows of this claim carry its timestamp (renewals write later ones).
        mine = executions.filter(status=Status.RUNNING, worker_id=worker_id[:64], heartbeat_at=now)
        return list(mine.order_by("-priority", "created_at"))


def _sqlite_ready_ids(using: str, backends: Sequence[str], queues: Sequence[str], now: datetime, limit: int) -> RawSQL:
    """The ready-rows query for SQLite, on the partial index that keeps it fast.

    SQLite uses a partial index only when the query repeats its condition
    with literal values (not parameters), and without statistics it prefers
    the status index plus a sort of every waiting row; ``INDEXED BY`` and
    literal statuses make it walk the waiting rows in claim order instead.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(TaskExecution._meta.db_table)
    statuses = ", ".join(f"'{status}'" for status in READY_STATUSES)  # our own constants
    index = "rail_tasks_ready_idx" if len(queues) == 1 else "rail_tasks_ready_any_idx"
    params: list[Any] = [connection.ops.adapt_datetimefield_value(now), *backends]
    where = (
        f"{quote('status')} IN ({statuses}) AND ({quote('run_after')} IS NULL OR {quote('run_after')} <= %s)"
        f" AND {quote('backend')} IN ({', '.join(['%s'] * len(backends))})"
    )
    if queues:
        where += f" AND {quote('queue')} IN ({', '.join(['%s'] * len(queues))})"
        params.extend(queues)
    # Only quoted names, our constants and an int are interpolated; every value is a parameter.
    order = f"{quote('priority')} DESC, {quote('created_at')} LIMIT {int(limit)}"
    sql = f"SELECT {quote('id')} FROM {table} INDEXED BY {index} WHERE {where} ORDER BY {order}"  # noqa: S608
    return RawSQL(sql, params)  # noqa: S611


def reap_expired_leases(*, using: str, backends: Sequence[str], limit: int = 100) -> int:
    """Fail the attempts whose worker stopped renewing its lease (``WorkerLost``).

    The runner's retry rules apply: the execution goes back to the queue
    (``retrying``) while attempts remain, else it ends ``failed``. Each
    failure is fenced by the lost attempt's number, so a row a live worker
    has meanwhile re-claimed is left alone. Returns how many were reaped.
    """
    now = timezone.now()
    expired = list(
        TaskExecution.objects.using(using)
        .lease_expired(now)
        .filter(backend__in=list(backends))
        .values_list("pk", "attempts", "worker_id")[:limit]
    )
    reaped = 0
    for pk, attempt, owner in expired:
        lost = WorkerLost(f"Worker lost: {owner or 'a worker'} stopped renewing its lease on attempt {attempt}")
        if fail_execution(pk, lost, attempt=attempt) is not None:
            logger.warning("Execution %s: lease of %s expired on attempt %d; worker presumed lost", pk, owner, attempt)
            reaped += 1
    return reaped
