"""The prebuilt claim and attempt writes (rail_tasks.statements) against the ORM's own ``update()``.

Each test runs the same change both ways on twin rows and compares every
column as stored and as returned, on whichever database the run uses
(SQLite, PostgreSQL).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rail_tasks import Status, TaskExecution, statements
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db

#: Columns that differ between twins by construction.
_OWN = {"id"}


def _twins(**fields: Any) -> tuple[TaskExecution, TaskExecution]:
    values: dict[str, Any] = {
        "name": "twin",
        "task_path": "tests.taskapp.tasks.add",
        "backend": "default",
        "args": [1, {"nested": ["é", 2.5, None]}],
        "kwargs": {"flag": True},
        "metadata": {"traceparent": "00-abc-def-01"},
        "max_retries": 2,
        "timeout": 12.5,
        "created_at": timezone.now() - timedelta(seconds=5),
    }
    values.update(fields)
    return TaskExecution.objects.create(**values), TaskExecution.objects.create(**values)


def _claim(execution_id: Any, worker_id: str, now: Any, lease_expires_at: Any) -> TaskExecution | None:
    return statements.claim_by_id(TaskExecution, execution_id, worker_id, now, lease_expires_at, using="default")


def _columns(row: TaskExecution) -> dict[str, Any]:
    return {f.attname: getattr(row, f.attname) for f in TaskExecution._meta.concrete_fields if f.attname not in _OWN}


def _stored(row: TaskExecution) -> dict[str, Any]:
    return _columns(TaskExecution.objects.get(pk=row.pk))


_NOW = timezone.now()


def _new(**fields: Any) -> TaskExecution:
    values: dict[str, Any] = {
        "name": "twin",
        "task_path": "tests.taskapp.tasks.add",
        "backend": "database",
        "queue": "orders",
        "priority": -7,
        "args": [1, {"nested": ["é", 2.5, None]}],
        "kwargs": {"flag": True, "when": "2026-12-02T10:00:00+00:00"},
        "metadata": {"traceparent": "00-abc-def-01"},
        "max_retries": 2,
        "retry_delay": 1.5,
        "retry_backoff": False,
        "timeout": 12.5,
        "track_progress": False,
        "run_after": _NOW + timedelta(minutes=5),
    }
    values.update(fields)
    return TaskExecution(**values)


@pytest.mark.parametrize("owned", [False, True], ids=["no-owner", "owner"])
def test_insert_execution_writes_what_save_does(owned: bool) -> None:
    owner = get_user_model().objects.create(username="owner") if owned else None
    fast = _new(owner=owner)
    orm = _new(owner=owner, created_at=fast.created_at)
    with CaptureQueriesContext(connection) as queries:
        assert statements.insert_execution(fast, using="default") is True
    orm.save(force_insert=True)
    assert len(queries) == 1
    assert _stored(fast) == _stored(orm)
    assert _columns(fast) == _columns(orm)  # the instance as save() leaves it
    assert (fast._state.adding, fast._state.db) == (orm._state.adding, orm._state.db) == (False, "default")


def test_insert_execution_leaves_the_insert_to_save_when_model_signals_listen() -> None:
    from django.db.models.signals import post_save

    seen: list[Any] = []

    def receiver(sender: Any, instance: TaskExecution, created: bool, **kwargs: Any) -> None:
        seen.append((instance.pk, created))

    post_save.connect(receiver, sender=TaskExecution)
    try:
        row = _new()
        assert statements.insert_execution(row, using="default") is False
        assert not TaskExecution.objects.filter(pk=row.pk).exists()
        result = tasks.add.using(backend="database").enqueue(1, 2)
        assert seen == [(UUID(result.id), True)]  # the backend saved it through the ORM instead
    finally:
        post_save.disconnect(receiver, sender=TaskExecution)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"status": Status.RETRYING, "attempts": 1, "started_at": timezone.now() - timedelta(minutes=3)},
        {"cancel_requested": True, "priority": -40, "queue": "orders"},
    ],
    ids=["pending", "retrying-keeps-started_at", "clears-cancel"],
)
@pytest.mark.parametrize("lease", [30.0, None], ids=["lease", "no-lease"])
def test_claim_by_id_writes_and_returns_what_the_orm_claim_does(fields: dict[str, Any], lease: float | None) -> None:
    fast, orm = _twins(**fields)
    now = timezone.now()
    lease_expires_at = now + timedelta(seconds=lease) if lease else None
    with CaptureQueriesContext(connection) as queries:
        claimed = _claim(fast.pk, "celery-id@host", now, lease_expires_at)
    (expected,) = TaskExecution.objects.filter(pk=orm.pk).claim_and_fetch("celery-id@host", lease, now=now)
    assert claimed is not None
    assert len(queries) == 1
    assert claimed.pk == fast.pk
    assert _columns(claimed) == _columns(expected)  # returned: JSON, datetimes, booleans converted alike
    assert _stored(fast) == _stored(orm)
    assert claimed._state.db == "default"
    assert not claimed._state.adding


def test_claim_by_id_claims_nothing_that_is_not_ready() -> None:
    running, done = _twins()
    assert _claim(running.pk, "w", timezone.now(), None) is not None
    TaskExecution.objects.filter(pk=done.pk).update(status=Status.COMPLETED)
    before = _stored(running)
    assert _claim(running.pk, "other", timezone.now(), None) is None
    assert _claim(done.pk, "other", timezone.now(), None) is None
    assert _claim("5b0d2bd1-7b35-4c2e-9d6e-2f3f0e7c2a11", "w", timezone.now(), None) is None
    assert _stored(running) == before  # the second delivery changed nothing


def test_claim_by_id_accepts_the_id_as_text() -> None:
    row, _ = _twins()
    claimed = TaskExecution.objects.claim_by_id(str(row.pk), "w", 5)
    assert claimed is not None
    assert (claimed.pk, claimed.attempts) == (row.pk, 1)


def test_queryset_claim_by_id_reads_back_where_update_cannot_return_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """MySQL's path, forced here: the ORM claim, then a read of the claimed row."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_update", False)
    row, _ = _twins()
    with CaptureQueriesContext(connection) as queries:
        claimed = TaskExecution.objects.claim_by_id(row.pk, "w", 5)
    assert [query["sql"].split()[0] for query in queries] == ["UPDATE", "SELECT"]
    assert claimed is not None
    assert (claimed.status, claimed.attempts) == (Status.RUNNING, 1)
    assert TaskExecution.objects.claim_by_id(row.pk, "w", 5) is None


@pytest.mark.parametrize("form", ["subquery", "placeholders"])
def test_claim_in_writes_and_returns_what_the_orm_claim_does(form: str) -> None:
    """The worker's batch claim: two ready rows and one running, claimed through a subquery or listed ids."""
    fast_a, orm_a = _twins(priority=5)
    fast_b, orm_b = _twins(status=Status.RETRYING, attempts=1, started_at=timezone.now() - timedelta(minutes=1))
    busy, _ = _twins()
    TaskExecution.objects.filter(pk=busy.pk).update(status=Status.RUNNING, attempts=1, worker_id="other")
    ids = [TaskExecution._meta.pk.get_db_prep_value(row.pk, connection) for row in (fast_a, fast_b, busy)]
    if form == "subquery":
        table, column = connection.ops.quote_name(TaskExecution._meta.db_table), connection.ops.quote_name("id")
        sql, params = f"SELECT {column} FROM {table} WHERE {column} IN (%s, %s, %s)", ids
    else:
        sql, params = "%s, %s, %s", ids
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        claimed = statements.claim_in(
            TaskExecution, sql, params, "w@host", now, now + timedelta(seconds=30), using="default"
        )
    expected = TaskExecution.objects.filter(pk__in=[orm_a.pk, orm_b.pk]).claim_and_fetch(
        "w@host", 30, now=now, started=False
    )
    assert len(queries) == 1
    assert sorted(row.pk for row in claimed) == sorted([fast_a.pk, fast_b.pk])  # not the running one
    by_priority = sorted(claimed, key=lambda row: -row.priority)
    assert [_columns(row) for row in by_priority] == [_columns(row) for row in expected]
    assert [_stored(fast_a), _stored(fast_b)] == [_stored(orm_a), _stored(orm_b)]
    assert TaskExecution.objects.get(pk=busy.pk).worker_id == "other"
    assert all(row._state.db == "default" and not row._state.adding for row in claimed)


def _running_twins(**fields: Any) -> tuple[TaskExecution, TaskExecution]:
    fast, orm = _twins(**fields)
    now = timezone.now()
    TaskExecution.objects.filter(pk__in=[fast.pk, orm.pk]).claim("w", 30, now=now)
    return TaskExecution.objects.get(pk=fast.pk), TaskExecution.objects.get(pk=orm.pk)


@pytest.mark.parametrize(
    "values",
    [
        {
            "status": Status.COMPLETED,
            "result": {"rows": [1, 2], "note": "naïve ✓", "none": None},
            "progress": 100,
            "completed_at": _NOW,
            "expires_at": _NOW + timedelta(days=1),
            "lease_expires_at": None,
            "error": "",
            "exception_class": "",
            "traceback": "",
        },
        {"status": Status.COMPLETED, "result": None, "completed_at": _NOW, "expires_at": None},
        {"status": Status.COMPLETED, "result": "just text"},
        {"status": Status.COMPLETED, "result": [None, 0, False]},
        {"status": Status.FAILED, "error": "boom", "exception_class": "ValueError", "traceback": "Traceback..."},
        {"status": Status.RETRYING, "run_after": _NOW + timedelta(seconds=9), "worker_id": "", "error": "e"},
        {"progress": 42, "heartbeat_at": _NOW, "progress_message": "step 3 of 7"},
        {"heartbeat_at": _NOW, "lease_expires_at": _NOW + timedelta(seconds=30)},
    ],
    ids=["completed", "result-null", "result-text", "result-list", "failed", "retrying", "progress", "lease"],
)
def test_update_running_attempt_writes_what_the_orm_update_does(values: dict[str, Any]) -> None:
    fast, orm = _running_twins()
    with CaptureQueriesContext(connection) as queries:
        assert statements.update_running_attempt(fast, 1, values) is True
    assert len(queries) == 1
    assert TaskExecution.objects.filter(pk=orm.pk, status=Status.RUNNING, attempts=1).update(**values) == 1
    assert _stored(fast) == _stored(orm)
    if "result" in values and values["result"] is None:  # SQL NULL, not JSON null, as update() writes it
        assert TaskExecution.objects.filter(pk=fast.pk, result__isnull=True).exists()


def test_update_running_attempt_is_fenced_by_the_attempt() -> None:
    row, finished = _running_twins()
    before = _stored(row)
    assert statements.update_running_attempt(row, 2, {"status": Status.COMPLETED}) is False  # an older attempt
    assert _stored(row) == before
    TaskExecution.objects.filter(pk=finished.pk).update(status=Status.FAILED)
    assert statements.update_running_attempt(finished, 1, {"progress": 5}) is False  # no longer running
    assert TaskExecution.objects.get(pk=finished.pk).progress == 0


def test_transitions_use_one_query_and_update_the_instance() -> None:
    owner = get_user_model().objects.create(username="owner")
    row, _ = _running_twins(owner=owner)
    with CaptureQueriesContext(connection) as queries:
        assert row.set_progress(1, 30, "a third")
        assert row.renew_lease(1, 60)
        assert row.finish_completed(1, {"ok": True}, None)
    assert len(queries) == 3
    assert (row.status, row.progress, row.progress_message, row.result) == ("completed", 100, "a third", {"ok": True})
    assert _columns(row) | {"lease_expires_at": None, "heartbeat_at": None} == _stored(row) | {
        "lease_expires_at": None,
        "heartbeat_at": None,
    }
    assert not row.finish_failed(1, error="late", exception_class="X", traceback="", expires_at=None)


postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")


@pytest.fixture
def fresh_session() -> None:
    """No statement prepared on this connection yet (an earlier test may have prepared some)."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection.__dict__.pop("_rail_tasks_prepared", None)


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_session")
def test_worker_statements_are_prepared_once_per_session_in_autocommit() -> None:
    first, second = _twins()
    now = timezone.now()
    with CaptureQueriesContext(connection) as queries:
        assert _claim(first.pk, "w", now, None) is not None
        assert _claim(second.pk, "w", now, None) is not None
    assert [query["sql"].split()[0] for query in queries] == ["PREPARE", "EXECUTE", "EXECUTE"]
    fast, orm = _running_twins()
    assert statements.update_running_attempt(fast, 1, {"status": Status.COMPLETED, "progress": 100}) is True
    assert TaskExecution.objects.filter(pk=orm.pk).update(status=Status.COMPLETED, progress=100) == 1
    assert _stored(fast) == _stored(orm)


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_worker_statements_stay_plain_inside_a_transaction() -> None:
    from django.db import transaction

    row, _ = _twins()
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        assert _claim(row.pk, "w", timezone.now(), None) is not None
    assert [query["sql"].split()[0] for query in queries] == ["UPDATE"]


@postgres_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_session")
def test_worker_statements_fall_back_to_plain_sql_when_the_server_forgets_them() -> None:
    """A pooler that moves the client to another session (PgBouncer in transaction mode) loses prepared statements."""
    first, second = _twins()
    third, _ = _twins()
    try:
        assert _claim(first.pk, "w", timezone.now(), None) is not None
        with connection.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")  # what a session switch looks like to this client
        with CaptureQueriesContext(connection) as queries:
            claimed = _claim(second.pk, "w", timezone.now(), None)
            assert _claim(third.pk, "w", timezone.now(), None) is not None
        assert claimed is not None
        assert claimed.attempts == 1
        assert [query["sql"].split()[0] for query in queries] == ["EXECUTE", "UPDATE", "UPDATE"]
    finally:
        statements._unprepared.discard("default")
