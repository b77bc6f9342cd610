"""task_mutation through graphene's test client, on the sync backend (tasks run inline)."""

from __future__ import annotations

import pytest
from graphql import GraphQLArgument, GraphQLNonNull

from rail_tasks import Status, TaskExecution
from rail_tasks.runner import load_task
from tests.rail_tasks_graphql.example import graphql as example
from tests.rail_tasks_graphql.example.schema import schema
from tests.rail_tasks_graphql.seed_documents import SEED_001_MUTATION

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_001_mutation_returns_task_id_and_status(gql, users) -> None:
    out = gql(SEED_001_MUTATION, user=users["alice"], variables={"datasetId": "123"})
    assert "errors" not in out, out
    payload = out["data"]["generateReport"]
    row = TaskExecution.objects.get(pk=payload["taskId"])
    assert payload["status"] == row.status == Status.COMPLETED  # the sync backend ran it inline
    assert row.name == "generate_report"
    assert row.owner == users["alice"]
    assert row.kwargs == {"dataset_id": "123"}
    assert row.progress == 100
    assert row.progress_message == "Complete"
    assert row.result == {"ok": True, "file_path": "/reports/report-8.pdf", "dataset_id": "123"}


def test_generated_task_is_importable_by_its_path() -> None:
    task = example.generate_report.task
    assert task.module_path == "tests.rail_tasks_graphql.example.graphql.generate_report__task"
    assert load_task(task.module_path) is task
    assert task.name == "generate_report"
    assert task.track_progress is True


def test_options_reach_the_execution(gql, users) -> None:
    out = gql('mutation { processOrder(orderId: "o-1") { taskId task { queue status result } } }', user=users["bob"])
    assert "errors" not in out, out
    row = TaskExecution.objects.get(pk=out["data"]["processOrder"]["taskId"])
    assert (row.name, row.queue, row.max_retries, row.retry_delay, row.timeout) == (
        "process_order",
        "orders",
        5,
        60.0,
        300.0,
    )
    assert out["data"]["processOrder"]["task"] == {
        "queue": "orders",
        "status": "completed",
        "result": {"ok": True, "status": "processed", "order_id": "o-1"},
    }


def test_bare_decorator_uses_the_function_name(gql, users) -> None:
    out = gql("mutation { whoami { taskId } }", user=users["alice"])
    row = TaskExecution.objects.get(pk=out["data"]["whoami"]["taskId"])
    assert row.name == "whoami"


def test_info_context_user_is_the_caller_and_no_request_travels(gql, users) -> None:
    out = gql("mutation { whoami { taskId task { result } } }", user=users["bob"])
    result = out["data"]["whoami"]["task"]["result"]
    assert result["username"] == "bob"
    assert result["authenticated"] is True
    assert result["task_id"] == out["data"]["whoami"]["taskId"]
    assert result["context_keys"] == []  # no META, COOKIES, headers or session in the task's context
    row = TaskExecution.objects.get(pk=result["task_id"])
    stored = f"{row.args}{row.kwargs}{row.metadata}"
    assert "secret-cookie" not in stored
    assert "t0k3n" not in stored


def test_anonymous_caller_runs_as_anonymous_and_sees_nothing(gql) -> None:
    out = gql("mutation { whoami { taskId task { result } } }")
    assert out["data"]["whoami"]["task"]["result"]["authenticated"] is False
    row = TaskExecution.objects.get(pk=out["data"]["whoami"]["taskId"])
    assert row.owner is None
    again = gql("query($id: ID!) { task(id: $id) { id } }", variables={"id": str(row.pk)})
    assert again["errors"][0]["message"] == "Task not found."


def test_arguments_from_type_hints() -> None:
    mutation = schema.graphql_schema.mutation_type
    assert mutation is not None
    report = mutation.fields["generateReport"].args
    assert str(report["datasetId"].type) == "String!"
    bulk = mutation.fields["bulkImport"].args
    assert str(bulk["records"].type) == "JSON!"
    assert str(bulk["note"].type) == "String"
    flaky = mutation.fields["flakyExternalCall"].args
    assert str(flaky["failTimes"].type) == "Int"
    assert flaky["failTimes"].default_value == 0
    steps = mutation.fields["slowSteps"].args
    assert str(steps["delay"].type) == "Float"
    assert isinstance(report["datasetId"], GraphQLArgument)
    assert isinstance(report["datasetId"].type, GraphQLNonNull)
    assert str(mutation.fields["generateReport"].type) == "TaskMutationPayload!"


def test_list_argument_travels_as_json(gql, users) -> None:
    out = gql(
        'mutation { bulkImport(records: ["a", "b", "c"]) { taskId task { progress progressMessage result } } }',
        user=users["alice"],
    )
    task = out["data"]["bulkImport"]["task"]
    assert task == {
        "progress": 100,
        "progressMessage": "Processed 3/3",
        "result": {"ok": True, "imported": 3, "note": None},
    }


def test_retries_follow_the_options(gql, users) -> None:
    out = gql(
        'mutation { flakyExternalCall(data: "x", failTimes: 2) { taskId task { status retryCount result } } }',
        user=users["alice"],
    )
    assert out["data"]["flakyExternalCall"]["task"] == {
        "status": "completed",
        "retryCount": 2,
        "result": "called with x",
    }


def test_failure_is_recorded_not_raised(gql, users) -> None:
    out = gql(
        'mutation { alwaysFails(message: "boom") { taskId status task { error traceback } } }', user=users["alice"]
    )
    payload = out["data"]["alwaysFails"]
    assert payload["status"] == "failed"
    # Owners see the exception class, not its message; tracebacks need the view permission.
    assert payload["task"] == {"error": "ValueError: the task failed (details are hidden).", "traceback": None}


def test_invalid_arguments_are_graphql_errors(gql, users) -> None:
    out = gql("mutation { generateReport { taskId } }", user=users["alice"])
    assert "datasetId" in out["errors"][0]["message"]
    assert not TaskExecution.objects.exists()


def test_decorator_refuses_nested_functions_and_bad_hints() -> None:
    from rail_tasks_graphql import task_mutation

    def outer() -> None:
        @task_mutation
        def inner(root, info) -> None:  # type: ignore[no-untyped-def]
            return None

    with pytest.raises(TypeError, match="module-level"):
        outer()

    def takes_object(root, info, when: object) -> None:  # type: ignore[no-untyped-def]
        return None

    from rail_tasks_graphql.arguments import arguments_for

    with pytest.raises(TypeError, match="cannot derive"):
        arguments_for(takes_object)


def test_async_task_mutation(gql, users) -> None:
    out = gql(
        'mutation { asyncWhoami(note: "n") { taskId task { status result progress progressMessage } } }',
        user=users["bob"],
    )
    assert "errors" not in out, out
    task = out["data"]["asyncWhoami"]["task"]
    assert task == {
        "status": "completed",
        "result": {"username": "bob", "note": "n"},
        "progress": 100,
        "progressMessage": "halfway (async)",
    }


def test_oversized_mutation_arguments_are_refused_before_anything_is_stored(gql, users) -> None:
    records = ["r" * 1000] * 10_240  # 10 MB of arguments
    out = gql(
        "mutation($r: JSON!) { bulkImport(records: $r) { taskId } }", user=users["alice"], variables={"r": records}
    )
    assert out["errors"][0]["extensions"]["code"] == "INVALID_TASK"
    assert "max_argument_bytes" in out["errors"][0]["message"]
    assert not TaskExecution.objects.exists()
