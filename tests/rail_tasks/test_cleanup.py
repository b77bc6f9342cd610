"""``cleanup_tasks``: only finished executions, older than --days or past their expiry; dry runs; batches."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from rail_tasks import Status, TaskExecution
from rail_tasks.cleanup import cleanup_executions

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def row(status: str, *, completed_days_ago: float | None = None, expires_in_days: float | None = None) -> str:
    execution = TaskExecution.objects.create(
        name=f"{status}-{completed_days_ago}-{expires_in_days}",
        task_path="tests.taskapp.tasks.add",
        status=status,
        created_at=NOW - timedelta(days=60),
        completed_at=NOW - timedelta(days=completed_days_ago) if completed_days_ago is not None else None,
        expires_at=NOW + timedelta(days=expires_in_days) if expires_in_days is not None else None,
    )
    return str(execution.pk)


@pytest.fixture
def rows() -> dict[str, str]:
    return {
        "old_completed": row(Status.COMPLETED, completed_days_ago=10, expires_in_days=5),
        "old_failed": row(Status.FAILED, completed_days_ago=8),
        "old_cancelled": row(Status.CANCELLED, completed_days_ago=30),
        "recent_completed": row(Status.COMPLETED, completed_days_ago=1, expires_in_days=5),
        "recent_expired": row(Status.FAILED, completed_days_ago=2, expires_in_days=-1),
        # Never deleted, however old: not finished.
        "pending": row(Status.PENDING),
        "running": row(Status.RUNNING),
        "retrying": row(Status.RETRYING, expires_in_days=-10),
        "odd_running": row(Status.RUNNING, completed_days_ago=40, expires_in_days=-30),
    }


def remaining() -> set[str]:
    return {str(pk) for pk in TaskExecution.objects.values_list("pk", flat=True)}


def run(*args: str) -> str:
    out = StringIO()
    call_command("cleanup_tasks", *args, stdout=out)
    return out.getvalue().strip()


def test_days_deletes_old_and_expired_finished_rows(rows: dict[str, Any]) -> None:
    output = run("--days", "7")
    assert output == "Deleted 4 finished execution(s): 3 completed more than 7 days ago, 1 past their expiry."
    assert remaining() == {rows[k] for k in ("recent_completed", "pending", "running", "retrying", "odd_running")}


def test_dry_run_counts_and_deletes_nothing(rows: dict[str, Any]) -> None:
    output = run("--days", "7", "--dry-run")
    assert output == "Would delete 4 finished execution(s): 3 completed more than 7 days ago, 1 past their expiry."
    assert remaining() == set(rows.values())


def test_without_days_only_expired_rows_go(rows: dict[str, Any]) -> None:
    output = run()
    assert output.startswith("Deleted 1 finished execution(s): 0 ")
    assert remaining() == set(rows.values()) - {rows["recent_expired"]}


def test_days_zero_removes_every_finished_row(rows: dict[str, Any]) -> None:
    run("--days", "0")
    assert remaining() == {rows[k] for k in ("pending", "running", "retrying", "odd_running")}


def test_batches_cover_every_row() -> None:
    ids = {row(Status.COMPLETED, completed_days_ago=9) for _ in range(7)}
    keep = row(Status.COMPLETED, completed_days_ago=1)
    report = cleanup_executions(days=7, batch_size=2)
    assert (report.old, report.expired, report.total, report.dry_run) == (7, 0, 7, False)
    assert remaining() == {keep}
    assert not ids & remaining()


def test_bad_arguments_are_command_errors() -> None:
    with pytest.raises(CommandError, match="days cannot be negative"):
        run("--days", "-1")
    with pytest.raises(CommandError, match="batch_size must be at least 1"):
        run("--batch-size", "0")


@pytest.mark.django_db(transaction=True)
def test_real_executions_past_their_ttl(settings: Any) -> None:
    """result_ttl_seconds sets expires_at at finish; a cleanup later removes the row."""
    from tests.taskapp import tasks

    settings.RAIL_TASKS = {**settings.RAIL_TASKS, "result_ttl_seconds": 60}
    finished = tasks.add.enqueue(1, 2).id
    assert cleanup_executions(days=7).total == 0
    report = cleanup_executions(days=7, now=timezone.now() + timedelta(seconds=61))
    assert (report.old, report.expired) == (0, 1)
    assert not TaskExecution.objects.filter(pk=finished).exists()
