"""Size limits: task arguments at enqueue, task results at finish (``max_argument_bytes``, ``max_result_bytes``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core import checks
from django.test import override_settings

from rail_tasks import InvalidTaskArguments, Status, TaskExecution
from rail_tasks.exceptions import InvalidTaskResult
from rail_tasks.limits import (
    ArgumentsTooLarge,
    ResultTooLarge,
    check_argument_size,
    check_result_size,
    json_size,
)
from tests.taskapp import tasks
from tests.taskapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def limits() -> Iterator[None]:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "max_argument_bytes": 1000, "max_result_bytes": 1000}):
        yield


def test_default_argument_limit_refuses_ten_megabytes_at_enqueue() -> None:
    blob = "x" * (10 * 1024 * 1024)
    with pytest.raises(ArgumentsTooLarge, match=r"10\.0 MiB of JSON, more than max_argument_bytes \(1\.0 MiB\)"):
        tasks.bulk_import.enqueue([blob])
    assert not TaskExecution.objects.exists()


def test_arguments_too_large_is_an_invalid_arguments_error(limits: None) -> None:
    with pytest.raises(InvalidTaskArguments, match="max_argument_bytes"):
        tasks.ledger_task.enqueue("d" * 1001)
    assert not TaskExecution.objects.exists()
    assert tasks.ledger_task.enqueue("d" * 900).status.name == "SUCCESSFUL"  # below the limit


def test_argument_limit_counts_args_and_kwargs_together(limits: None) -> None:
    assert json_size(["a" * 600]) < 1000
    assert json_size({"fail_times": 0, "pad": "b" * 600}) < 1000
    with pytest.raises(ArgumentsTooLarge):
        check_argument_size(["a" * 600], {"fail_times": 0, "pad": "b" * 600})
    check_argument_size(["a" * 400], {"pad": "b" * 400})


def test_no_argument_limit_when_none() -> None:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "max_argument_bytes": None, "max_result_bytes": None}):
        result = tasks.ledger_task.enqueue("d" * 2_000_000)
    assert TaskExecution.objects.get(pk=result.id).status == Status.COMPLETED


def test_too_large_result_fails_the_execution_with_a_clear_error(limits: None) -> None:
    result = tasks.sized_result.enqueue(5000)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.result is None
    assert row.exception_class == "rail_tasks.limits.ResultTooLarge"
    assert "more than max_result_bytes" in row.error


def test_too_large_result_is_never_retried(limits: None) -> None:
    result = tasks.sized_result.enqueue(5000)  # max_retries=2
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.status, row.attempts) == (Status.FAILED, 1)
    assert Ledger.objects.filter(execution_id=result.id).count() == 1


def test_result_below_the_limit_is_stored(limits: None) -> None:
    result = tasks.sized_result.enqueue(900)
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.status, row.result) == (Status.COMPLETED, "x" * 900)


def test_check_result_size() -> None:
    assert check_result_size({"a": [1, 2]}) == '{"a":[1,2]}'
    with pytest.raises(InvalidTaskResult, match="cannot be stored as JSON"):
        check_result_size(float("nan"))
    with pytest.raises(ResultTooLarge):
        check_result_size("x" * (2 * 1024 * 1024))
    assert issubclass(ResultTooLarge, InvalidTaskResult)


@pytest.mark.parametrize("key", ["max_argument_bytes", "max_result_bytes"])
@pytest.mark.parametrize("value", [0, -5, "1MB", 1.5])
def test_bad_limits_are_system_check_errors(key: str, value: object) -> None:
    with override_settings(RAIL_TASKS={key: value}):
        errors = [e for e in checks.run_checks() if e.id.startswith("rail_tasks.E")]
    assert [e.id for e in errors] in (["rail_tasks.E003"], ["rail_tasks.E004"])
    assert key in errors[0].msg
