"""Seed 001's failure callback and monitoring settings, as log records on the ``rail_tasks`` logger."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from rail_tasks import Status, TaskExecution
from tests.taskapp import tasks, tasks_core5

pytestmark = pytest.mark.django_db(transaction=True)

CALLBACK = "tests.taskapp.tasks_core5.record_failure"


@pytest.fixture(autouse=True)
def _clear_failures() -> Iterator[None]:
    tasks_core5.FAILURES.clear()
    yield
    tasks_core5.FAILURES.clear()


def rail_settings(**changes: Any) -> dict[str, Any]:
    return {**settings.RAIL_TASKS, **changes}


def rail_records(caplog: pytest.LogCaptureFixture, level: int | None = None) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "rail_tasks" and (level is None or r.levelno == level)]


# ---------------------------------------------------------------------------
# failure_callback / on_failure
# ---------------------------------------------------------------------------


def test_failure_callback_is_called_once_after_the_last_retry() -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=CALLBACK)):
        result = tasks_core5.fails_twice_then_gives_up.enqueue("order-7")
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.status, row.attempts) == (Status.FAILED, 3)
    assert len(tasks_core5.FAILURES) == 1
    call = tasks_core5.FAILURES[0]
    assert call["taskId"] == str(row.id)
    assert call["task_name"] == "fails_twice_then_gives_up"
    assert call["error"] == "'order-7'"  # str(KeyError('order-7'))
    assert call["traceback"] == row.traceback
    assert call["traceback"].startswith("Traceback (most recent call last):")
    assert "KeyError: 'order-7'" in call["traceback"]
    # After the last retry: the row is already failed, all attempts done.
    assert call["row"] == {"status": "failed", "attempts": 3}


def test_failure_callback_not_called_when_a_retry_succeeds() -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=CALLBACK)):
        result = tasks.flaky_external_call.enqueue("d", fail_times=2)
    assert TaskExecution.objects.get(pk=result.id).status == Status.COMPLETED
    assert tasks_core5.FAILURES == []


def test_failure_callback_gets_timeouts_too() -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=CALLBACK)):
        result = tasks.slow_with_progress.enqueue(2.0)
    assert [c["taskId"] for c in tasks_core5.FAILURES] == [result.id]
    assert "TaskTimeout" in tasks_core5.FAILURES[0]["traceback"]


def test_raising_failure_callback_is_logged_and_the_outcome_stands(caplog: pytest.LogCaptureFixture) -> None:
    path = "tests.taskapp.tasks_core5.raising_callback"
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=path)):
        result = tasks.always_fails.enqueue("primary error")
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.status, row.error) == (Status.FAILED, "primary error")
    record = next(r for r in rail_records(caplog) if "failure_callback" in r.getMessage())
    assert record.levelno == logging.ERROR
    assert path in record.getMessage()
    assert record.exc_info is not None
    assert record.exc_info[0] is RuntimeError


def test_on_failure_log_writes_an_error_record(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="log")):
        result = tasks.always_fails.enqueue("visible in logs")
    errors = rail_records(caplog, logging.ERROR)
    assert [r.getMessage() for r in errors] == [f"Task always_fails ({result.id}) failed: visible in logs"]
    assert tasks_core5.FAILURES == []


def test_callback_runs_and_the_error_is_logged_too(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="callback", failure_callback=CALLBACK)):
        result = tasks.always_fails.enqueue("both")
    errors = [r.getMessage() for r in rail_records(caplog, logging.ERROR)]
    assert errors == [f"Task always_fails ({result.id}) failed: both"]
    assert [c["taskId"] for c in tasks_core5.FAILURES] == [result.id]


def test_on_failure_ignore_neither_logs_nor_calls(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RAIL_TASKS=rail_settings(on_failure="ignore", failure_callback=CALLBACK)):
        result = tasks.always_fails.enqueue("quiet")
    assert TaskExecution.objects.get(pk=result.id).status == Status.FAILED  # still recorded
    assert rail_records(caplog, logging.ERROR) == []
    assert tasks_core5.FAILURES == []


def test_retries_log_a_warning_each(caplog: pytest.LogCaptureFixture) -> None:
    result = tasks.flaky_external_call.enqueue("d", fail_times=2)
    warnings = [r.getMessage() for r in rail_records(caplog, logging.WARNING)]
    assert [w.split(" failed ")[0] for w in warnings] == [
        f"Task flaky_external_call ({result.id}) attempt 1",
        f"Task flaky_external_call ({result.id}) attempt 2",
    ]
    assert all("builtins.ConnectionError" in w and "retrying in" in w for w in warnings)


# ---------------------------------------------------------------------------
# log_task_start / log_task_complete / slow_task_threshold_seconds
# ---------------------------------------------------------------------------


def test_nothing_is_logged_at_info_by_default(caplog: pytest.LogCaptureFixture) -> None:
    tasks.add.enqueue(1, 2)
    assert rail_records(caplog, logging.INFO) == []


def test_log_task_start(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RAIL_TASKS=rail_settings(log_task_start=True)):
        result = tasks.flaky_external_call.enqueue("d", fail_times=1)
    infos = [r.getMessage() for r in rail_records(caplog, logging.INFO)]
    assert infos == [
        f"Task flaky_external_call ({result.id}) started, attempt 1",
        f"Task flaky_external_call ({result.id}) started, attempt 2",
    ]


def test_log_task_complete(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RAIL_TASKS=rail_settings(log_task_complete=True)):
        ok = tasks.add.enqueue(1, 2)
        failed = tasks.always_fails.enqueue("x")
    infos = rail_records(caplog, logging.INFO)
    assert len(infos) == 2
    assert infos[0].getMessage().startswith(f"Task add ({ok.id}) completed in ")
    assert infos[0].getMessage().endswith("s (attempt 1)")
    assert infos[1].getMessage().startswith(f"Task always_fails ({failed.id}) failed in ")


def test_slow_task_threshold(caplog: pytest.LogCaptureFixture) -> None:
    with override_settings(RAIL_TASKS=rail_settings(slow_task_threshold_seconds=0.05)):
        slow = tasks_core5.sleeps.enqueue(0.1)
        tasks_core5.sleeps.enqueue(0)
    warnings = [r.getMessage() for r in rail_records(caplog, logging.WARNING)]
    assert len(warnings) == 1
    assert warnings[0].startswith(f"Slow task sleeps ({slow.id}) took 0.1")
    assert warnings[0].endswith("(threshold 0.05s)")


def test_no_slow_warning_without_a_threshold(caplog: pytest.LogCaptureFixture) -> None:
    tasks_core5.sleeps.enqueue(0.06)
    assert rail_records(caplog, logging.WARNING) == []


def test_seed_monitoring_block(caplog: pytest.LogCaptureFixture) -> None:
    """Seed 001, "Monitor Task Performance", as written (threshold in whole seconds)."""
    monitoring = {
        "metrics_enabled": True,
        "log_task_start": True,
        "log_task_complete": True,
        "slow_task_threshold_seconds": 60,
    }
    with override_settings(RAIL_TASKS=rail_settings(**monitoring)):
        result = tasks.generate_report.enqueue("m")
    messages = [r.getMessage() for r in rail_records(caplog, logging.INFO)]
    assert messages[0] == f"Task generate_report ({result.id}) started, attempt 1"
    assert messages[1].startswith(f"Task generate_report ({result.id}) completed in ")
    assert rail_records(caplog, logging.WARNING) == []
