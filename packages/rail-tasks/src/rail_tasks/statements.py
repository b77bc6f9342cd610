"""The writes every execution makes, as SQL built once per database alias.

Every engine pays for three writes per execution: the insert at enqueue, the
claim (``pending|retrying -> running``, returning the row) and the outcome
(``running -> completed`` and the like, fenced by the attempt). Built through
the ORM (``save()``, ``QuerySet.update()``) each time, each costs about half a
millisecond to a millisecond of CPU on a small machine (query building,
compiling, converting 36 returned columns), several times the round trip
itself, while the SQL text never changes.

So the text is built once per database alias and column set, from the model's
metadata and the backend's own operations (``quote_name``,
``returning_columns``, ``fetch_returned_rows``, the compiler's converters);
each value is prepared by its field (``pre_save``, ``get_db_prep_save``), as
``save()`` and ``QuerySet.update()`` do, and the statement runs through Django's cursor
(query logging, ``CaptureQueriesContext`` and execute wrappers still see it).
On PostgreSQL, outside transactions, the claims and the attempt's writes also
skip parsing and planning: each is prepared once per session (``PREPARE``,
then ``EXECUTE``), see :func:`_execute`. Tests compare each statement's effect with the ORM's on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.db import DatabaseError, connections, router
from django.db.models import signals

from rail_tasks.status import READY_STATUSES, Status

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.backends.utils import CursorWrapper
    from django.db.models import Field, Model
    from django.db.models.sql.compiler import SQLCompiler

    from rail_tasks.models import TaskExecution

__all__ = ["claim_by_id", "claim_in", "insert_execution", "update_running_attempt"]

#: SQL text by (database alias, statement, column names). Only strings: every thread shares them.
_sql: dict[tuple[str, str, tuple[str, ...]], str] = {}
#: Per thread and alias: the compiler and converters of a returned row (both hold the thread's connection).
_local = threading.local()
#: Aliases whose server refused a prepared statement once (a pooler that switches sessions): plain SQL there.
_unprepared: set[str] = set()

logger = logging.getLogger("rail_tasks")


def _execute(cursor: CursorWrapper, using: str, sql: str, params: Sequence[Any]) -> None:
    """Run ``sql``; on PostgreSQL in autocommit, as a prepared statement (parsed and planned once per session).

    The worker's claim and outcome writes run often with the same text, and
    planning the claim costs about as much as running it. The statement is
    named after a hash of its text, so two clients that share a server
    session (a pooler) can only ever execute the same SQL under one name. If
    the server does not know the name (PgBouncer in transaction mode, a
    ``DISCARD ALL``), this alias falls back to plain statements for good.
    Inside a transaction the plain statement is used, so an error here never
    aborts a caller's transaction.
    """
    connection = cursor.db
    if connection.vendor != "postgresql" or using in _unprepared or connection.in_atomic_block:
        cursor.execute(sql, params)
        return
    raw = connection.connection
    state = connection.__dict__.get("_rail_tasks_prepared")
    if state is None or state[0] is not raw:
        state = connection.__dict__["_rail_tasks_prepared"] = (raw, set())
    prepared: set[str] = state[1]
    name = "rail_tasks_" + hashlib.sha1(sql.encode(), usedforsecurity=False).hexdigest()[:24]
    try:
        if name not in prepared:
            numbered = iter(range(1, len(params) + 1))
            try:
                cursor.execute(f"PREPARE {name} AS " + re.sub("%s", lambda _: f"${next(numbered)}", sql))
            except DatabaseError as exc:
                if _sqlstate(exc) != "42P05":  # duplicate_prepared_statement: the same text, prepared already
                    raise
            prepared.add(name)
        cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
    except DatabaseError as exc:
        if _sqlstate(exc) not in {"26000", "0A000"}:  # unknown statement name; a pooler refusing PREPARE
            raise
        _unprepared.add(using)
        logger.info("Database %r does not keep prepared statements (%s); using plain ones", using, exc)
        cursor.execute(sql, params)


def _sqlstate(exc: BaseException) -> str | None:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)


class _Columns:
    """A model's columns on one connection: quoted names and values prepared by their fields."""

    def __init__(self, model: type[Model], connection: BaseDatabaseWrapper) -> None:
        self.meta = model._meta
        self.connection = connection

    @property
    def table(self) -> str:
        return str(self.connection.ops.quote_name(self.meta.db_table))

    def field(self, name: str) -> Field[Any, Any]:
        return cast("Field[Any, Any]", self.meta.get_field(name))  # concrete columns only, never a relation

    def __getitem__(self, name: str) -> str:
        return str(self.connection.ops.quote_name(str(self.field(name).column)))

    def save(self, name: str, value: Any) -> Any:
        """``value`` as ``QuerySet.update()`` would send it for the field ``name``."""
        return self.field(name).get_db_prep_save(value, self.connection)

    def lookup(self, name: str, value: Any) -> Any:
        """``value`` as an exact lookup on the field ``name`` would send it."""
        return self.field(name).get_db_prep_value(value, self.connection, prepared=False)


# -- the insert of a new execution -------------------------------------------------


def insert_execution(execution: TaskExecution, *, using: str, then: str = "", then_params: Sequence[Any] = ()) -> bool:
    """INSERT a new execution as ``save(force_insert=True)`` writes it, with SQL built once; one round trip.

    Each column's value is what the ORM would send: the field's
    ``pre_save(add=True)``, then ``get_db_prep_save``. ``then`` is SQL run in
    the same call after the INSERT (the database backend's ``NOTIFY``; only
    where the driver takes several statements in one call), with
    ``then_params``. Returns ``False``, writing nothing, where the ORM must
    save instead: a ``pre_save``/``post_save`` receiver listens on the model,
    or a value is an expression. On success the instance is marked saved on
    ``using``, as ``save()`` leaves it.
    """
    model = type(execution)
    if signals.pre_save.has_listeners(model) or signals.post_save.has_listeners(model):
        return False
    meta = model._meta
    fields = [field for field in meta.local_concrete_fields if not field.generated]
    values = [field.pre_save(execution, add=True) for field in fields]
    if meta.db_returning_fields or any(hasattr(value, "resolve_expression") for value in values):
        return False
    connection = connections[using]
    key = (using, "insert", (then,))
    sql = _sql.get(key)
    if sql is None:
        columns = _Columns(model, connection)
        names = ", ".join(columns[field.name] for field in fields)
        placeholders = ", ".join(["%s"] * len(fields))
        insert = f"INSERT INTO {columns.table} ({names}) VALUES ({placeholders})"  # noqa: S608
        sql = _sql[key] = f"{insert}; {then}" if then else insert
    params = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *then_params])
    execution._state.adding = False
    execution._state.db = using
    return True


# -- the claim ----------------------------------------------------------------------


# Only identifiers from the model's metadata, quoted by the backend, are formatted into the text;
# every value is a parameter (hence the S608 exemptions).


def _claim_sql(c: _Columns, returning: str, id_condition: str) -> str:
    ready = ", ".join(["%s"] * len(READY_STATUSES))
    return (
        f"UPDATE {c.table} SET {c['status']} = %s, {c['attempts']} = {c['attempts']} + 1, {c['worker_id']} = %s, "  # noqa: S608
        f"{c['started_at']} = COALESCE({c['started_at']}, %s), {c['attempt_started_at']} = %s, "
        f"{c['heartbeat_at']} = %s, "
        f"{c['lease_expires_at']} = %s, {c['cancel_requested']} = %s "
        f"WHERE {c['id']} {id_condition} AND {c['status']} IN ({ready}) {returning}"
    )


def _converters(
    alias: str, model: type[Model], connection: BaseDatabaseWrapper, fields: Sequence[Field[Any, Any]]
) -> tuple[SQLCompiler, dict[int, Any]]:
    cached = getattr(_local, alias, None)
    if cached is None or cached[0].connection is not connection:
        compiler = model._default_manager.none().query.get_compiler(connection=connection)
        cached = (compiler, compiler.get_converters([field.get_col(model._meta.db_table) for field in fields]))
        setattr(_local, alias, cached)
    return cached


def _claim(
    model: type[TaskExecution],
    id_condition: str,
    id_params: Sequence[Any],
    worker_id: str,
    now: datetime,
    lease_expires_at: datetime | None,
    using: str,
    *,
    started: bool,
) -> list[TaskExecution]:
    """Claim the ready rows whose id meets ``id_condition`` (SQL after the quoted id column) in one statement.

    ``started``: the attempts start now (an engine's delivery), else they were
    claimed ahead of running (the database worker's prefetch).
    """
    connection = connections[using]
    columns = _Columns(model, connection)
    fields = model._meta.concrete_fields
    key = (using, "claim", (id_condition,))
    sql, returning_params = _sql.get(key), ()
    if sql is None:
        returning, returning_params = connection.ops.returning_columns(fields)
        sql = _claim_sql(columns, returning, id_condition)
        if not returning_params:  # output variables (Oracle) are made per call: cache only the others
            _sql[key] = sql
    params = [
        columns.save("status", Status.RUNNING),
        columns.save("worker_id", worker_id[:64]),
        columns.save("started_at", now),
        columns.save("attempt_started_at", now if started else None),
        columns.save("heartbeat_at", now),
        columns.save("lease_expires_at", lease_expires_at),
        columns.save("cancel_requested", False),
        *id_params,
        *(columns.lookup("status", status) for status in READY_STATUSES),
    ]
    output_variables = bool(returning_params)  # Oracle: bound per call, never prepared
    with connection.cursor() as cursor:
        if output_variables:
            cursor.execute(sql, params)
        else:
            _execute(cursor, using, sql, params)
        rows = connection.ops.fetch_returned_rows(cursor, returning_params)
    if not rows:
        return []
    compiler, converters = _converters(using, model, connection, fields)
    converted = compiler.apply_converters(rows, converters) if converters else rows
    names = [field.attname for field in fields]
    return [model.from_db(using, names, row) for row in converted]


def claim_by_id(
    model: type[TaskExecution],
    execution_id: Any,
    worker_id: str,
    now: datetime,
    lease_expires_at: datetime | None,
    *,
    using: str,
) -> TaskExecution | None:
    """Claim one ready execution by id in one ``UPDATE ... RETURNING``; ``None`` if it was not ready.

    Writes what :meth:`TaskExecutionQuerySet.claim` writes with ``started=True``
    (an engine's delivery runs the task right after its claim) and returns the
    row as a query would. Only for databases that return rows from an update
    (``features.can_return_rows_from_update``): callers check.
    """
    id_param = _Columns(model, connections[using]).lookup("id", execution_id)
    rows = _claim(model, "= %s", [id_param], worker_id, now, lease_expires_at, using, started=True)
    return rows[0] if rows else None


def claim_in(
    model: type[TaskExecution],
    ids_sql: str,
    ids_params: Sequence[Any],
    worker_id: str,
    now: datetime,
    lease_expires_at: datetime | None,
    *,
    using: str,
) -> list[TaskExecution]:
    """Claim the ready executions whose ids ``ids_sql`` selects, in one ``UPDATE ... RETURNING``.

    ``ids_sql`` is a subquery (the worker's ``SELECT id ... FOR UPDATE SKIP
    LOCKED``) or a list of placeholders, with ``ids_params`` as the database
    takes them. Writes what :meth:`TaskExecutionQuerySet.claim` writes with
    ``started=False`` (the database worker claims ahead of running); rows
    come back in no particular order. Only for databases that return rows
    from an update, like :func:`claim_by_id`.
    """
    return _claim(model, f"IN ({ids_sql})", ids_params, worker_id, now, lease_expires_at, using, started=False)


# -- the running attempt's own writes ----------------------------------------------------


def _update_sql(c: _Columns, names: tuple[str, ...]) -> str:
    assignments = ", ".join(f"{c[name]} = %s" for name in names)
    fence = f"{c['id']} = %s AND {c['status']} = %s AND {c['attempts']} = %s"
    return f"UPDATE {c.table} SET {assignments} WHERE {fence}"  # noqa: S608


def update_running_attempt(execution: TaskExecution, attempt: int, values: dict[str, Any]) -> bool:
    """Write plain ``values`` (no expressions) if ``attempt`` still runs ``execution``; one ``UPDATE``.

    Returns whether the row was written; the instance is left as it was.
    """
    alias = execution._state.db or router.db_for_write(type(execution), instance=execution)
    columns = _Columns(type(execution), connections[alias])
    names = tuple(values)
    key = (alias, "attempt", names)
    sql = _sql.get(key)
    if sql is None:
        sql = _sql[key] = _update_sql(columns, names)
    params = [columns.save(name, value) for name, value in values.items()]
    params += [columns.lookup("id", execution.pk), columns.lookup("status", Status.RUNNING)]
    params.append(columns.lookup("attempts", attempt))
    with columns.connection.cursor() as cursor:
        _execute(cursor, alias, sql, params)
        return bool(cursor.rowcount)
