"""Claiming, reaping and waking up, in the test process (no worker subprocess)."""

from __future__ import annotations

import multiprocessing
import os
import select
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rail_tasks import Status, TaskExecution, run_execution
from rail_tasks.backends.database.claim import claim_batch
from rail_tasks.backends.database.leases import mark_started, release
from rail_tasks.backends.database.notify import Listener
from rail_tasks.backends.database.options import WorkerOptions
from rail_tasks.backends.database.waiter import Waiter
from rail_tasks.engine import reap, renew_leases
from tests.taskapp import tasks_db

from .conftest import postgres_only, terminate_other_backends

pytestmark = pytest.mark.django_db(transaction=True)


def _row(label: str = "", **fields: Any) -> TaskExecution:
    values: dict[str, Any] = {
        "name": label or "record",
        "task_path": "tests.taskapp.tasks_db.record",
        "backend": "database",
        "args": [label],
        "max_retries": 1,
        "retry_delay": 0,
    }
    values.update(fields)
    return TaskExecution.objects.create(**values)


def _claim(limit: int = 10, queues: tuple[str, ...] = (), worker: str = "w1", lease: float = 30) -> list[TaskExecution]:
    return claim_batch(
        using="default", backends=["database"], queues=queues, limit=limit, worker_id=worker, lease_seconds=lease
    )


def test_claims_by_priority_then_fifo_within_the_limit() -> None:
    low = _row("low", priority=-10)
    first = _row("first")
    high = _row("high", priority=90)
    second = _row("second")
    claimed = _claim(limit=3)
    assert [row.pk for row in claimed] == [high.pk, first.pk, second.pk]
    assert all(row.status == Status.RUNNING and row.attempts == 1 and row.worker_id == "w1" for row in claimed)
    assert all(row.lease_expires_at is not None and row.lease_expires_at > timezone.now() for row in claimed)
    assert [row.pk for row in _claim(worker="w2")] == [low.pk]
    assert _claim() == []


def test_claims_only_ready_rows_of_its_backends_and_queues() -> None:
    _row("later", run_after=timezone.now() + timedelta(hours=1))
    _row("sync alias", backend="default")
    _row("done", status=Status.COMPLETED)
    other = _row("other queue", queue="other")
    retry = _row("retry due", status=Status.RETRYING, attempts=1, run_after=timezone.now() - timedelta(seconds=1))
    assert [row.pk for row in _claim(queues=("other",))] == [other.pk]
    claimed = _claim()
    assert [(row.pk, row.attempts) for row in claimed] == [(retry.pk, 2)]


def test_claim_and_fetch_returns_the_claimed_rows_in_one_statement() -> None:
    low = _row("low", priority=-5)
    high = _row("high", priority=5)
    with CaptureQueriesContext(connection) as queries:
        claimed = TaskExecution.objects.filter(pk__in=[low.pk, high.pk]).claim_and_fetch("w1", 30)
    assert len(queries) == 1  # UPDATE ... RETURNING on PostgreSQL and SQLite
    assert [row.pk for row in claimed] == [high.pk, low.pk]
    assert all((row.status, row.attempts, row.worker_id) == ("running", 1, "w1") for row in claimed)
    assert claimed[0].args == ["high"]  # JSON and other columns converted as a normal read would
    assert claimed[0].lease_expires_at is not None
    assert TaskExecution.objects.filter(pk=low.pk).claim_and_fetch("w2") == []  # running: not ready


def test_claim_and_fetch_reads_the_claim_back_where_update_cannot_return_rows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The path for databases without ``UPDATE ... RETURNING`` (MySQL), forced on this one."""
    monkeypatch.setattr(type(connection.features), "can_return_rows_from_update", False)
    first = _row("first")
    second = _row("second", priority=3)
    with CaptureQueriesContext(connection) as queries:
        claimed = TaskExecution.objects.filter(pk__in=[first.pk, second.pk]).claim_and_fetch("w1", 30)
    assert [query["sql"].split()[0] for query in queries] == ["UPDATE", "SELECT"]
    assert [row.pk for row in claimed] == [second.pk, first.pk]
    assert all((row.status, row.attempts) == ("running", 1) for row in claimed)
    assert TaskExecution.objects.filter(pk=first.pk).claim_and_fetch("w2") == []


def _run(queries: CaptureQueriesContext) -> list[str]:
    """The statements sent, less PostgreSQL's ``PREPARE`` (once per session and statement, rail_tasks.statements)."""
    return [query["sql"] for query in queries if not query["sql"].startswith("PREPARE ")]


def test_a_batch_claim_is_one_statement_on_postgresql() -> None:
    for i in range(5):
        _row(str(i))
    with CaptureQueriesContext(connection) as queries:
        claimed = _claim(limit=3)
    assert len(claimed) == 3
    if connection.vendor == "postgresql":
        assert len(_run(queries)) == 1, _run(queries)
    else:  # SQLite: look without the lock; BEGIN IMMEDIATE, pick ids, UPDATE ... RETURNING, COMMIT
        assert len(queries) == 5, [query["sql"] for query in queries]
        assert queries[3]["sql"].startswith("UPDATE")
        assert "RETURNING" in queries[3]["sql"]


def test_running_an_execution_by_id_costs_two_queries() -> None:
    row = _row("by id", task_path="tests.taskapp.tasks_db.noop", args=[])
    with CaptureQueriesContext(connection) as queries:
        finished = run_execution(row.pk, worker_id="engine:1")
    assert finished is not None
    assert (finished.status, finished.attempts, finished.worker_id) == ("completed", 1, "engine:1")
    assert len(_run(queries)) == 2, _run(queries)  # claim ... RETURNING, then finish
    assert run_execution(row.pk) is None  # a second delivery finds nothing to claim


def test_waiter_reports_ready_descriptors_and_follows_reused_numbers() -> None:
    waiter = Waiter()
    first, first_writer = multiprocessing.Pipe(duplex=False)
    idle, _idle_writer = multiprocessing.Pipe(duplex=False)
    assert waiter.wait([first, idle], 0.01) == set()
    first_writer.send("done")
    assert waiter.wait([first, idle], 1.0) == {first.fileno()}
    number = first.fileno()
    first.close()
    first_writer.close()
    reader, writer = os.pipe()
    try:
        if reader != number:  # the kernel may not hand the same number out again
            os.dup2(reader, number)
            os.close(reader)
        os.write(writer, b"x")
        assert waiter.wait([number, idle], 1.0) == {number}  # same number, new pipe: still watched
    finally:
        os.close(number)
        os.close(writer)


def test_two_claimers_never_share_a_row() -> None:
    for i in range(20):
        _row(str(i))
    seen: list[Any] = []
    for round_ in range(10):
        for worker in ("a", "b", "c"):
            seen.extend(row.pk for row in _claim(limit=1 + round_ % 3, worker=worker))
    assert len(seen) == len(set(seen)) == 20


def _expire(row: TaskExecution) -> None:
    TaskExecution.objects.filter(pk=row.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def _reaped() -> tuple[int, int]:
    report = reap(using="default", backends=["database"])
    return report.lost, report.released


def test_expired_lease_of_a_started_attempt_goes_back_to_the_queue_then_fails_worker_lost() -> None:
    row = _row("lost")
    (claimed,) = _claim(lease=30)
    assert mark_started([(str(row.pk), 1)], using="default") == 1
    _expire(row)
    assert _reaped() == (1, 0)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.exception_class) == ("retrying", 1, "rail_tasks.exceptions.WorkerLost")
    (again,) = _claim()
    assert again.attempts == 2
    mark_started([(str(row.pk), 2)], using="default")
    _expire(row)
    assert _reaped() == (1, 0)
    row.refresh_from_db()
    assert row.status == Status.FAILED  # max_retries=1: two attempts lost, no more
    assert "Worker lost" in row.error
    assert claimed.attempts == 1


def test_an_expired_claim_that_never_started_goes_back_without_cost() -> None:
    """A worker that dies with prefetched claims costs them nothing: an attempt counts once its task started."""
    row = _row("prefetched")
    for _ in range(3):  # more often than max_retries allows: none of these claims started
        (claimed,) = _claim(lease=30)
        assert claimed.attempt_started_at is None
        _expire(row)
        assert _reaped() == (0, 1)
        row.refresh_from_db()
        assert (row.status, row.attempts, row.worker_id, row.exception_class) == ("pending", 0, "", "")
    assert run_execution(row.pk) is not None
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("completed", 1)
    assert row.attempt_started_at is not None


def test_live_leases_are_left_alone_and_renewal_is_fenced() -> None:
    row = _row("alive")
    (claimed,) = _claim(lease=30)
    assert _reaped() == (0, 0)
    assert renew_leases([(str(row.pk), 1)], 30).lost == set()
    assert renew_leases([(str(row.pk), 7)], 30).lost == {str(row.pk)}
    assert renew_leases([(str(row.pk), 1)], None).cancel_requested == set()
    claimed.request_cancel()
    assert renew_leases([(str(row.pk), 1)], None).cancel_requested == {str(row.pk)}
    assert release(str(row.pk), 1)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.worker_id) == ("pending", 0, "")


def test_a_heartbeat_racing_a_finished_attempt_reports_nothing_lost() -> None:
    """The heartbeat may renew just after the attempt recorded its outcome: that attempt is finished, not lost."""
    done, failed, retried, taken = (_row(label) for label in ("done", "failed", "retried", "taken"))
    claimed = {row.pk: row for row in _claim(limit=4, lease=30)}
    claimed[done.pk].finish_completed(1, "ok", None)
    claimed[failed.pk].finish_failed(1, error="x", exception_class="builtins.ValueError", traceback="", expires_at=None)
    claimed[retried.pk].schedule_retry(
        1, run_after=timezone.now(), error="x", exception_class="builtins.ValueError", traceback=""
    )
    _expire(taken)
    mark_started([(str(taken.pk), 1)], using="default")
    assert _reaped() == (1, 0)  # the reaper took this one away: lost
    held = [(str(row.pk), 1) for row in (done, failed, retried, taken)]
    assert renew_leases(held, 30).lost == {str(taken.pk)}


def test_options_resolve_from_settings() -> None:
    options = WorkerOptions().resolve()
    assert options.backends == ["database"]
    assert options.lease == 60
    assert options.heartbeat == 10
    assert options.worker_id
    assert options.poll == (0.1 if connection.vendor == "sqlite" else 1.0)
    with pytest.raises(ValueError, match="heartbeat"):
        WorkerOptions(lease_seconds=5, heartbeat_seconds=5).resolve()
    with pytest.raises(ValueError, match="concurrency"):
        WorkerOptions(concurrency=0).resolve()


def _payloads(listener: Listener, timeout: float = 2.0) -> list[str]:
    select.select([listener], [], [], timeout)
    return listener.drain()


@postgres_only
def test_enqueue_notifies_listeners_on_commit_only() -> None:
    listener = Listener("default")
    listener.connect()
    try:
        with transaction.atomic():
            tasks_db.record.using(backend="database").enqueue("a")
            assert listener.drain() == []
        assert _payloads(listener) == ["default"]
        with pytest.raises(RuntimeError), transaction.atomic():  # noqa: PT012 - enqueue, then roll back
            tasks_db.other_queue.using(backend="database").enqueue("b")
            raise RuntimeError("roll back")
        assert _payloads(listener, 0.3) == []
    finally:
        listener.close()


@postgres_only
def test_enqueue_inserts_and_notifies_in_one_round_trip() -> None:
    """The INSERT and the NOTIFY share one statement; a deferred row wakes nobody (workers poll for it)."""
    listener = Listener("default")
    listener.connect()
    try:
        with CaptureQueriesContext(connection) as queries:
            result = tasks_db.other_queue.using(backend="database").enqueue("a")
        assert len(queries) == 1
        assert "pg_notify" in queries[0]["sql"]
        assert _payloads(listener) == ["other"]
        assert TaskExecution.objects.get(pk=result.id).queue == "other"
        later = timezone.now() + timedelta(hours=1)
        with CaptureQueriesContext(connection) as queries:
            tasks_db.record.using(backend="database", run_after=later).enqueue("b")
        assert len(queries) == 1
        assert "pg_notify" not in queries[0]["sql"]
        assert _payloads(listener, 0.3) == []
    finally:
        listener.close()


@postgres_only
def test_enqueue_notifies_on_commit_with_server_side_binding() -> None:
    """Server-side binding takes one statement per call: the NOTIFY follows on commit, as before."""
    listener = Listener("default")
    listener.connect()
    options = connection.settings_dict["OPTIONS"]
    options["server_side_binding"] = True
    try:
        with transaction.atomic():
            tasks_db.record.using(backend="database").enqueue("a")
            assert _payloads(listener, 0.2) == []
        assert _payloads(listener) == ["default"]
    finally:
        del options["server_side_binding"]
        listener.close()


@postgres_only
def test_listener_notices_a_terminated_connection_and_reconnects() -> None:
    listener = Listener("default")
    listener.connect()
    try:
        assert terminate_other_backends() >= 1
        for _ in range(5):
            if listener.connected:
                assert _payloads(listener, 0.5) == []
        assert not listener.connected
        listener.connect()
        tasks_db.record.using(backend="database").enqueue("c")
        assert _payloads(listener) == ["default"]
    finally:
        listener.close()


@postgres_only
def test_a_delivery_claims_on_a_new_connection_when_the_kept_one_was_closed_by_the_server() -> None:
    """Engines keep connections between tasks; a restart or idle timeout must not fail the next delivery."""
    import psycopg

    row = _row("after a restart", task_path="tests.taskapp.tasks_db.noop", args=[])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], user=settings["USER"], dbname=settings["NAME"], autocommit=True
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    finished = run_execution(row.pk, worker_id="engine:1")
    assert finished is not None
    assert (finished.status, finished.attempts) == ("completed", 1)


def test_enqueue_records_the_engine_of_the_backend() -> None:
    result = tasks_db.record.using(backend="database").enqueue("engine")
    assert TaskExecution.objects.get(pk=result.id).engine == "rail_tasks.backends.database.DatabaseBackend"


def test_rows_enqueued_for_another_engine_under_the_same_alias_are_left_alone() -> None:
    # The alias "database" was served by Celery when these were enqueued, then switched to the database backend.
    foreign = _row("foreign", engine="rail_tasks_celery.CeleryBackend")
    legacy = _row("legacy", engine="")  # rows from before the engine was recorded are still served
    mine = _row("mine", engine="rail_tasks.backends.database.DatabaseBackend")
    assert {row.pk for row in _claim()} == {legacy.pk, mine.pk}
    foreign.refresh_from_db()
    assert (foreign.status, foreign.attempts) == (Status.PENDING, 0)
