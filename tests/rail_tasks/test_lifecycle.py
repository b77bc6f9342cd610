"""The one lifecycle on the sync backend: seed 001's examples through the Python API."""

from __future__ import annotations

import django.tasks as django_tasks
import pytest
from django.tasks import TaskResultStatus
from django.tasks.signals import task_enqueued, task_finished, task_started

import rail_tasks
from rail_tasks import InvalidTaskArguments, Status, TaskExecution
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def test_generate_report_completes_with_progress_and_result() -> None:
    result = tasks.generate_report.enqueue("123")
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == {"ok": True, "dataset_id": "123", "file_path": "/reports/123.pdf"}
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.COMPLETED
    assert row.progress == 100
    assert row.progress_message == "Complete"
    assert row.attempts == 1
    assert row.name == "generate_report"
    assert row.started_at is not None
    assert row.completed_at is not None
    assert row.expires_at is not None


def test_process_order_keeps_its_options() -> None:
    result = tasks.process_order.enqueue("o-1")
    row = TaskExecution.objects.get(pk=result.id)
    assert (row.queue, row.max_retries, row.retry_delay, row.timeout) == ("orders", 5, 60.0, 300.0)
    assert result.return_value["status"] == "processed"


def test_flaky_call_retries_then_succeeds() -> None:
    result = tasks.flaky_external_call.enqueue("payload", fail_times=2)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.COMPLETED
    assert row.attempts == 3
    assert row.retry_count == 2
    assert row.result == "called with payload"


def test_retries_exhausted_fails_with_error() -> None:
    result = tasks.flaky_external_call.enqueue("payload", fail_times=10)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.attempts == 4  # first attempt + max_retries=3
    assert row.exception_class == "builtins.ConnectionError"
    assert "attempt 4" in row.error
    assert "Traceback" in row.traceback
    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is ConnectionError


def test_bulk_import_reports_progress() -> None:
    result = tasks.bulk_import.enqueue([f"r{i}" for i in range(7)])
    row = TaskExecution.objects.get(pk=result.id)
    assert row.progress == 100
    assert row.progress_message == "Processed 7/7"
    assert row.result == {"ok": True, "imported": 7}


def test_context_task_gets_handle_and_attempt() -> None:
    result = tasks.with_context.enqueue(5)
    assert result.return_value == {"attempt": 1, "value": 5, "id": result.id}
    assert TaskExecution.objects.get(pk=result.id).progress_message == "via context"


def test_async_task_runs() -> None:
    assert tasks.async_double.enqueue(21).return_value == 42


def test_django_decorated_task_is_tracked() -> None:
    result = tasks.plain_django_task.enqueue(1)
    assert result.return_value == 2
    assert TaskExecution.objects.filter(pk=result.id, status=Status.COMPLETED).exists()


def test_unserialisable_arguments_fail_at_enqueue_and_insert_nothing() -> None:
    with pytest.raises(InvalidTaskArguments, match=r"args\[0\]: object"):
        tasks.add.enqueue(object(), 1)
    with pytest.raises(InvalidTaskArguments, match="dict keys must be strings"):
        tasks.bulk_import.enqueue({1: "a"})
    assert not TaskExecution.objects.exists()


def test_unserialisable_result_is_a_failure() -> None:
    result = tasks.returns_unserialisable.enqueue()
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.exception_class == "rail_tasks.exceptions.InvalidTaskResult"
    assert "return value: object" in row.error


def test_cooperative_timeout_fails_the_task() -> None:
    result = tasks.slow_with_progress.enqueue(5)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.FAILED
    assert row.exception_class == "rail_tasks.exceptions.TaskTimeout"


def test_get_result_reads_the_row() -> None:
    result = tasks.add.enqueue(2, 3)
    again = tasks.add.get_result(result.id)
    assert again.return_value == 5
    assert again.attempts == 1
    assert again.status == TaskResultStatus.SUCCESSFUL


def test_signals_fire_in_order() -> None:
    seen: list[str] = []

    def on(name: str):  # type: ignore[no-untyped-def]
        def receiver(sender, task_result, **kwargs):  # type: ignore[no-untyped-def]
            seen.append(f"{name}:{task_result.status}")

        return receiver

    receivers = [(task_enqueued, on("enqueued")), (task_started, on("started")), (task_finished, on("finished"))]
    for signal, receiver in receivers:
        signal.connect(receiver)
    try:
        tasks.add.enqueue(1, 1)
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)
    assert seen == ["enqueued:READY", "started:RUNNING", "finished:SUCCESSFUL"]


def test_results_of_a_task_declared_for_another_alias_name_the_execution_alias_with_one_bound_task() -> None:
    """A worker builds two results per execution (started, finished): the task is bound to its alias once."""
    from django.tasks import task_backends

    backend = task_backends["database"]
    execution = TaskExecution.objects.create(
        name="add", task_path="tests.taskapp.tasks.add", backend="database", args=[1, 2]
    )
    first = backend.to_task_result(execution, tasks.add)
    second = backend.to_task_result(execution, tasks.add)
    assert tasks.add.backend == "default"
    assert (first.backend, first.task.backend, first.task.func) == ("database", "database", tasks.add.func)
    assert second.task is first.task


def test_task_options_are_declared_once_and_a_typo_names_the_closest() -> None:
    from dataclasses import fields

    from rail_tasks.task import ExecutionOptions, RailTask, TaskOptions

    rail_fields = {f.name for f in fields(RailTask)} - {f.name for f in fields(django_tasks.Task)}
    assert rail_fields <= set(TaskOptions.__annotations__)
    assert {f.name for f in fields(ExecutionOptions)} <= set(TaskOptions.__annotations__)
    with pytest.raises(TypeError, match=r"Unknown task option 'max_retry'. Did you mean 'max_retries'\?"):
        rail_tasks.task(max_retry=3)  # type: ignore[call-overload]
