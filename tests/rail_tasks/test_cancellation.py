"""Cancellation on the sync and thread backends, and ``track_in_database=False``."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.db import transaction
from django.tasks import TaskResultStatus
from django.test import override_settings

import rail_tasks
from rail_tasks import ExecutionNotFound, Status, TaskExecution, hookimpl
from tests.taskapp import tasks
from tests.taskapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(pk: Any, *statuses: str, timeout: float = 10.0) -> TaskExecution:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = TaskExecution.objects.filter(pk=pk).first()
        if row is not None and row.status in statuses:
            return row
        time.sleep(0.02)
    raise AssertionError(f"execution {pk} never reached {statuses}")


def rail_settings(**changes: Any) -> dict[str, Any]:
    return {**settings.RAIL_TASKS, **changes}


# ---------------------------------------------------------------------------
# Cancellation
# ---------------------------------------------------------------------------


def test_pending_execution_is_cancelled_at_once_and_never_runs() -> None:
    result = tasks.ledger_task.using(backend="database").enqueue("never")
    row = rail_tasks.cancel_execution(result.id)
    assert row.status == Status.CANCELLED
    stored = TaskExecution.objects.get(pk=result.id)
    assert (stored.status, stored.attempts, stored.started_at) == (Status.CANCELLED, 0, None)
    assert stored.completed_at is not None
    assert stored.expires_at is not None
    # A late delivery of the message does nothing.
    assert rail_tasks.run_execution(result.id) is None
    assert not Ledger.objects.filter(execution_id=result.id).exists()
    assert result.backend == "database"
    result.refresh()
    assert result.status == TaskResultStatus.FAILED  # Django has no "cancelled"; the row keeps the seed's status


def test_sync_enqueue_cancelled_before_commit_never_runs() -> None:
    with transaction.atomic():
        result = tasks.ledger_task.enqueue("deferred by the transaction")
        assert TaskExecution.objects.get(pk=result.id).status == Status.PENDING  # submit waits for the commit
        rail_tasks.cancel_execution(result.id)
    assert TaskExecution.objects.get(pk=result.id).status == Status.CANCELLED
    assert not Ledger.objects.filter(execution_id=result.id).exists()


def test_running_thread_task_sees_is_cancelled_and_ends_cancelled() -> None:
    result = tasks.wait_for_cancel.using(backend="thread").enqueue(10.0)
    running = wait_for(result.id, Status.RUNNING)
    assert running.cancel_requested is False
    started = time.monotonic()
    row = rail_tasks.cancel_execution(result.id)
    assert row.status == Status.RUNNING  # a request only: the task stops at its next progress update
    assert TaskExecution.objects.get(pk=result.id).cancel_requested is True
    final = wait_for(result.id, Status.CANCELLED)
    assert time.monotonic() - started < 5  # long before its 10 seconds
    assert final.result is None
    assert final.completed_at is not None
    assert 0 < final.progress < 100
    assert Ledger.objects.filter(execution_id=result.id, event="start").count() == 1


def test_handle_is_cancelled_flag_inside_a_task(plugin: Any) -> None:
    seen: list[bool] = []

    class Peeks:
        @hookimpl
        def rail_tasks_progress(self, execution: TaskExecution, progress: int) -> None:
            handle = rail_tasks.current_task()
            assert handle is not None
            if progress == 3:
                TaskExecution.objects.filter(pk=execution.pk).update(cancel_requested=True)
            seen.append(handle.is_cancelled)

    plugin(Peeks(), "peeks")
    result = tasks.wait_for_cancel.enqueue(10.0)  # sync: runs inline
    assert TaskExecution.objects.get(pk=result.id).status == Status.CANCELLED
    assert seen == [False, False, True]


def test_cancel_of_a_finished_execution_changes_nothing(plugin: Any) -> None:
    cancelled: list[str] = []

    class Watches:
        @hookimpl
        def rail_tasks_cancel(self, execution: TaskExecution) -> None:
            cancelled.append(str(execution.id))

    plugin(Watches(), "watches")
    done = tasks.add.enqueue(1, 2)
    failed = tasks.always_fails.enqueue("x")
    assert rail_tasks.cancel_execution(done.id).status == Status.COMPLETED
    assert rail_tasks.cancel_execution(failed.id).status == Status.FAILED
    assert TaskExecution.objects.get(pk=done.id).cancel_requested is False
    assert cancelled == []


def test_cancel_of_an_unknown_id() -> None:
    with pytest.raises(ExecutionNotFound):
        rail_tasks.cancel_execution(uuid.uuid4())


def test_cancelled_execution_can_be_retried() -> None:
    result = tasks.ledger_task.using(backend="database").enqueue("again")
    rail_tasks.cancel_execution(result.id)
    rail_tasks.retry_execution(result.id)
    assert TaskExecution.objects.get(pk=result.id).status == Status.PENDING


# ---------------------------------------------------------------------------
# track_in_database=False
# ---------------------------------------------------------------------------


def test_untracked_completed_execution_is_deleted(plugin: Any) -> None:
    results: list[Any] = []

    class Watches:
        @hookimpl
        def rail_tasks_complete(self, result: Any) -> None:
            results.append(result)  # hooks still see the outcome before the row goes

    plugin(Watches(), "watches")
    with override_settings(RAIL_TASKS=rail_settings(track_in_database=False)):
        result = tasks.ledger_task.enqueue("ran")
    assert results == ["ran"]
    assert Ledger.objects.filter(execution_id=result.id).count() == 1
    assert not TaskExecution.objects.filter(pk=result.id).exists()


def test_untracked_failed_and_cancelled_executions_are_deleted() -> None:
    with override_settings(RAIL_TASKS=rail_settings(track_in_database=False)):
        failed = tasks.always_fails.enqueue("gone")
        waiting = tasks.add.using(backend="database").enqueue(1, 1)
        assert TaskExecution.objects.get(pk=waiting.id).status == Status.PENDING  # unfinished rows stay
        rail_tasks.cancel_execution(waiting.id)
    assert not TaskExecution.objects.filter(pk__in=[failed.id, waiting.id]).exists()


def test_untracked_thread_execution_is_deleted_after_it_finishes() -> None:
    with override_settings(RAIL_TASKS=rail_settings(track_in_database=False)):
        result = tasks.ledger_task.using(backend="thread").enqueue("thread")
        deadline = time.monotonic() + 10
        while TaskExecution.objects.filter(pk=result.id).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert not TaskExecution.objects.filter(pk=result.id).exists()
    assert Ledger.objects.filter(execution_id=result.id).count() == 1  # it did run
