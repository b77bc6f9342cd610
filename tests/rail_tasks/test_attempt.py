"""One attempt, however it ends, is recorded once by the runner (issue: "Engine kit and one attempt")."""

from __future__ import annotations

import time

import pytest

import rail_tasks
from rail_tasks import Status, TaskExecution
from rail_tasks.testing import tasks as kit_tasks
from rail_tasks.testing.waiting import wait_for_status
from tests.taskapp import tasks
from tests.taskapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("backend", ["default", "thread"])
def test_system_exit_in_a_task_ends_failed(backend: str) -> None:
    """Django's ImmediateBackend records SystemExit as FAILED; the row must never stay ``running``."""
    result = tasks.exits_the_process.using(backend=backend).enqueue(3)
    row = wait_for_status(result.id, [Status.FAILED, Status.COMPLETED], timeout=10)
    assert row.status == Status.FAILED
    assert row.exception_class == "builtins.SystemExit"
    assert row.lease_expires_at is None
    assert row.attempts == 1


def test_keyboard_interrupt_is_recorded_then_raised() -> None:
    with pytest.raises(KeyboardInterrupt):
        tasks.interrupted_by_keyboard.enqueue()
    row = TaskExecution.objects.get()
    assert row.status == Status.FAILED
    assert row.exception_class == "builtins.KeyboardInterrupt"


def test_a_non_json_return_value_fails_once_naming_it() -> None:
    result = tasks.returns_a_datetime.enqueue()
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.attempts == 1, "retrying would run the task's side effects again"
    assert row.exception_class == "rail_tasks.exceptions.InvalidTaskResult"
    assert "return value['when']: datetime" in row.error
    assert Ledger.objects.filter(execution_id=result.id, event="start").count() == 1


def test_thread_backend_stops_a_sleeping_task_at_its_timeout() -> None:
    result = kit_tasks.sleep_past_timeout.using(backend="thread").enqueue(30)
    started = time.monotonic()
    row = wait_for_status(result.id, [Status.FAILED], timeout=20)
    assert row.exception_class == "rail_tasks.exceptions.TaskTimeout"
    assert "timeout" in row.error
    assert time.monotonic() - started < 15


def test_thread_backend_cancels_a_running_task_that_never_reports_progress() -> None:
    result = tasks.computes_until_stopped.using(backend="thread").enqueue(30)
    wait_for_status(result.id, [Status.RUNNING], timeout=10)
    time.sleep(0.2)
    rail_tasks.cancel_execution(result.id)
    row = wait_for_status(result.id, [Status.CANCELLED], timeout=10)
    assert row.exception_class == "rail_tasks.exceptions.TaskCancelled"
