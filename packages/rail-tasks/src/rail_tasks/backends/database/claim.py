"""Claiming ready executions, and giving lost ones back to the queue.

PostgreSQL: one statement in autocommit, ``UPDATE ... WHERE id IN (SELECT
... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING ...``: concurrent workers never
wait for each other, and the claimed rows come back with the claim (one
round trip for a whole batch). SQLite has no row locks: a transaction that
takes the write lock up front (``BEGIN IMMEDIATE``, whatever ``transaction_mode``
the project set) serialises claimers, picks the ready ids and claims them by
primary key with the same conditional ``UPDATE ... RETURNING``. (A deferred
transaction that reads, then writes, fails at once with "database is locked"
when another process writes meanwhile, whatever the ``timeout``; ``BEGIN
IMMEDIATE`` waits for the lock instead.) Other databases lock with the ORM's
``select_for_update`` in a transaction and read the claim back by its own
timestamp. Every claim is the model's fenced bulk transition
(:meth:`TaskExecutionQuerySet.claim_and_fetch`), so only rows this worker
really claimed are returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.expressions import RawSQL
from django.tasks import task_backends
from django.utils import timezone

from rail_tasks import statements
from rail_tasks.models import TaskExecution
from rail_tasks.status import READY_STATUSES

__all__ = ["claim_batch", "served_engines"]

logger = logging.getLogger("rail_tasks.worker")


def served_engines(backends: Sequence[str]) -> list[str]:
    """The ``engine`` values a worker of these aliases runs: their backends' class paths, and ``""``.

    A row records the class of the backend it was enqueued for; after an alias is switched to another
    backend, the rows enqueued under the old one are left to that engine's workers. (``""``: rows
    written before the engine was recorded.)
    """
    classes = {type(task_backends[alias]) for alias in backends}
    return sorted({"", *(f"{cls.__module__}.{cls.__qualname__}" for cls in classes)})


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

    :param backends: ``TASKS`` aliases whose rows this worker runs (rows enqueued for their current backends).
    :param queues: queue names; empty for every queue.
    :returns: the claimed rows (status ``running``, one more attempt, leased).
    """
    if limit <= 0:
        return []
    now = timezone.now()
    executions = TaskExecution.objects.using(using)
    connection = connections[using]
    lease_expires_at = now + timedelta(seconds=lease_seconds) if lease_seconds else None
    if connection.vendor == "postgresql":
        # One statement in autocommit: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING,
        # its text built once (rail_tasks.statements), as the ORM's claim_and_fetch would write it.
        ready_ids = _ready_ids(using, backends, queues, now, limit)
        rows = statements.claim_in(
            TaskExecution, ready_ids.sql, ready_ids.params, worker_id, now, lease_expires_at, using=using
        )
        return sorted(rows, key=_claim_order)
    if connection.vendor == "sqlite":
        ready_ids = _ready_ids(using, backends, queues, now, limit)
        with connection.cursor() as cursor:  # look before taking the database-wide write lock
            cursor.execute(ready_ids.sql, ready_ids.params)
            if cursor.fetchone() is None:
                return []
        # Under the write lock (BEGIN IMMEDIATE): pick the ids on the ready index, then claim them by
        # primary key. (An "UPDATE ... WHERE id IN (subquery)" makes SQLite walk every waiting row.)
        with _write_lock(connection), connection.cursor() as cursor:
            cursor.execute(ready_ids.sql, ready_ids.params)
            ids = [row[0] for row in cursor.fetchall()]
            if not ids:
                return []
            placeholders = ", ".join(["%s"] * len(ids))
            rows = statements.claim_in(TaskExecution, placeholders, ids, worker_id, now, lease_expires_at, using=using)
            return sorted(rows, key=_claim_order)
    ready = executions.ready(now).filter(backend__in=list(backends), engine__in=served_engines(backends))
    if queues:
        ready = ready.filter(queue__in=list(queues))
    ready = ready.order_by("-priority", "created_at")
    if connection.features.has_select_for_update_skip_locked:
        ready = ready.select_for_update(skip_locked=True)
    with transaction.atomic(using=using):
        if connection.features.allow_sliced_subqueries_with_in:
            picked = executions.filter(pk__in=ready.values("pk")[:limit])
        else:
            picked = executions.filter(pk__in=list(ready.values_list("pk", flat=True)[:limit]))
        return picked.claim_and_fetch(worker_id, lease_seconds, now=now, started=False)


@contextmanager
def _write_lock(connection: BaseDatabaseWrapper) -> Iterator[None]:
    """A transaction on SQLite that begins with the write lock (``BEGIN IMMEDIATE``), even in DEFERRED mode.

    Django's SQLite backend begins transactions with ``BEGIN <transaction_mode>``; the worker sets the
    mode of its own connection for this one transaction (``EXCLUSIVE``, if configured, is kept).
    """
    connection.ensure_connection()
    previous = getattr(connection, "transaction_mode", None)
    if previous != "EXCLUSIVE":
        connection.transaction_mode = "IMMEDIATE"  # type: ignore[attr-defined]  # SQLite's DatabaseWrapper
    try:
        with transaction.atomic(using=connection.alias):
            yield
    finally:
        connection.transaction_mode = previous  # type: ignore[attr-defined]


def _claim_order(row: TaskExecution) -> tuple[int, datetime]:
    """Highest priority first, then oldest (the order the claim picked them in)."""
    return (-row.priority, row.created_at)


def _ready_ids(using: str, backends: Sequence[str], queues: Sequence[str], now: datetime, limit: int) -> RawSQL:
    """The ready-rows subquery for PostgreSQL and SQLite, on the partial index that keeps it fast.

    Statuses are literal values (our own constants), so both planners match
    the partial index's condition. PostgreSQL locks the rows it picks
    (``FOR UPDATE SKIP LOCKED``: concurrent workers skip each other's rows).
    SQLite uses a partial index only when the query repeats its condition
    with literal values, and without statistics it prefers the status index
    plus a sort of every waiting row; ``INDEXED BY`` makes it walk the waiting
    rows in claim order instead.
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(TaskExecution._meta.db_table)
    statuses = ", ".join(f"'{status}'" for status in READY_STATUSES)  # our own constants
    engines = served_engines(backends)
    params: list[Any] = [connection.ops.adapt_datetimefield_value(now), *backends, *engines]
    where = (
        f"{quote('status')} IN ({statuses}) AND ({quote('run_after')} IS NULL OR {quote('run_after')} <= %s)"
        f" AND {quote('backend')} IN ({', '.join(['%s'] * len(backends))})"
        f" AND {quote('engine')} IN ({', '.join(['%s'] * len(engines))})"
    )
    if queues:
        where += f" AND {quote('queue')} IN ({', '.join(['%s'] * len(queues))})"
        params.extend(queues)
    source = table
    suffix = ""
    if connection.vendor == "sqlite":
        source += " INDEXED BY " + ("rail_tasks_ready_idx" if len(queues) == 1 else "rail_tasks_ready_any_idx")
    else:
        suffix = " FOR UPDATE SKIP LOCKED"
    # Only quoted names, our constants and an int are interpolated; every value is a parameter.
    order = f"{quote('priority')} DESC, {quote('created_at')} LIMIT {int(limit)}"
    sql = f"SELECT {quote('id')} FROM {source} WHERE {where} ORDER BY {order}{suffix}"  # noqa: S608
    return RawSQL(sql, params)  # noqa: S611
