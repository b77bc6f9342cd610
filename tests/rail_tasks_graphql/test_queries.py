"""task(id), tasks(...), cancelTask and retryTask: results and who may see what."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings

from rail_tasks import Status, TaskExecution
from tests.rail_tasks_graphql.example import graphql as example
from tests.rail_tasks_graphql.seed_documents import SEED_001_QUERY

pytestmark = pytest.mark.django_db(transaction=True)


SEED_001_FAILED = """
query FailedTasks {
  tasks(status: "failed", limit: 50) {
    id
    name
    error
    retryCount
    createdAt
  }
}
"""


def _report(gql, user, dataset: str = "123") -> str:
    out = gql("mutation($d: String!) { generateReport(datasetId: $d) { taskId } }", user=user, variables={"d": dataset})
    return str(out["data"]["generateReport"]["taskId"])


def _pending(user, name: str = "generate_report", status: str = Status.PENDING) -> TaskExecution:
    """A row as the database backend leaves it before a worker runs it."""
    return TaskExecution.objects.create(
        name=name, task_path=example.generate_report.task.module_path, backend="database", status=status, owner=user
    )


def test_seed_001_task_query_after_completion(gql, users) -> None:
    task_id = _report(gql, users["alice"])
    out = gql(SEED_001_QUERY, user=users["alice"], variables={"taskId": task_id})
    assert "errors" not in out, out
    task = out["data"]["task"]
    assert task["id"] == task_id
    assert (task["name"], task["status"], task["progress"], task["progressMessage"]) == (
        "generate_report",
        "completed",
        100,
        "Complete",
    )
    assert task["result"] == {"ok": True, "file_path": "/reports/report-8.pdf", "dataset_id": "123"}
    assert task["error"] is None
    assert task["createdAt"]
    assert task["startedAt"]
    assert task["completedAt"]


@pytest.mark.parametrize("viewer", ["bob", "anonymous"])
def test_other_users_and_anonymous_get_the_same_not_found_as_a_random_id(gql, users, viewer) -> None:
    task_id = _report(gql, users["alice"])
    user = users.get(viewer)
    theirs = gql(SEED_001_QUERY, user=user, variables={"taskId": task_id})
    random = gql(SEED_001_QUERY, user=user, variables={"taskId": str(uuid.uuid4())})
    garbage = gql(SEED_001_QUERY, user=user, variables={"taskId": "abc-123"})
    for out in (theirs, random, garbage):
        assert out["data"] == {"task": None}
        assert [(e["message"], e["extensions"]) for e in out["errors"]] == [("Task not found.", {"code": "NOT_FOUND"})]


def test_staff_see_every_task_and_tracebacks(gql, users) -> None:
    out = gql('mutation { alwaysFails(message: "boom") { taskId } }', user=users["alice"])
    task_id = out["data"]["alwaysFails"]["taskId"]
    query = "query($id: ID!) { task(id: $id) { status error traceback } }"
    owner_view = gql(query, user=users["alice"], variables={"id": task_id})["data"]["task"]
    staff_view = gql(query, user=users["root"], variables={"id": task_id})["data"]["task"]
    assert owner_view == {"status": "failed", "error": "boom", "traceback": None}
    assert staff_view["error"] == "boom"
    assert "ValueError: boom" in staff_view["traceback"]


def test_tasks_lists_only_the_viewers_tasks_filtered_in_the_database(gql, users) -> None:
    for dataset in ("1", "2"):
        _report(gql, users["alice"], dataset)
    gql('mutation { alwaysFails(message: "a-fail") { taskId } }', user=users["alice"])
    gql('mutation { alwaysFails(message: "b-fail") { taskId } }', user=users["bob"])

    alice = gql(SEED_001_FAILED, user=users["alice"])["data"]["tasks"]
    assert [(t["name"], t["error"], t["retryCount"]) for t in alice] == [("always_fails", "a-fail", 0)]
    bob_all = gql("{ tasks { name } }", user=users["bob"])["data"]["tasks"]
    assert bob_all == [{"name": "always_fails"}]
    staff = gql(SEED_001_FAILED, user=users["root"])["data"]["tasks"]
    assert sorted(t["error"] for t in staff) == ["a-fail", "b-fail"]
    assert gql("{ tasks { id } }")["data"]["tasks"] == []  # anonymous
    by_name = gql('{ tasks(name: "generate_report") { status } }', user=users["alice"])["data"]["tasks"]
    assert by_name == [{"status": "completed"}, {"status": "completed"}]
    bad = gql('{ tasks(status: "exploded") { id } }', user=users["alice"])
    assert bad["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_tasks_newest_first_with_offset(gql, users) -> None:
    ids = [str(_pending(users["alice"]).pk) for _ in range(3)]
    out = gql("{ tasks(limit: 2, offset: 1) { id } }", user=users["alice"])["data"]["tasks"]
    assert [t["id"] for t in out] == list(reversed(ids))[1:3]


@override_settings(RAIL_TASKS_GRAPHQL={"tasks_max_limit": 5})
def test_tasks_limit_is_capped(gql, users) -> None:
    TaskExecution.objects.bulk_create(
        TaskExecution(name="bulk", task_path="x.y", owner=users["alice"]) for _ in range(8)
    )
    assert len(gql("{ tasks(limit: 1000) { id } }", user=users["alice"])["data"]["tasks"]) == 5
    assert len(gql("{ tasks { id } }", user=users["alice"])["data"]["tasks"]) == 5
    assert gql("{ tasks(limit: -1) { id } }", user=users["alice"])["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_default_cap_is_100(gql, users) -> None:
    TaskExecution.objects.bulk_create(
        TaskExecution(name="bulk", task_path="x.y", owner=users["alice"]) for _ in range(105)
    )
    assert len(gql("{ tasks(limit: 500) { id } }", user=users["alice"])["data"]["tasks"]) == 100


def test_cancel_task_waiting(gql, users) -> None:
    row = _pending(users["alice"])
    out = gql(
        "mutation($id: ID!) { cancelTask(id: $id) { id status error } }",
        user=users["alice"],
        variables={"id": str(row.pk)},
    )
    assert out["data"]["cancelTask"] == {"id": str(row.pk), "status": "cancelled", "error": "Cancelled"}
    row.refresh_from_db()
    assert row.status == Status.CANCELLED


def test_cancel_task_running_requests_cancellation(gql, users) -> None:
    row = _pending(users["alice"], status=Status.RUNNING)
    out = gql(
        "mutation($id: ID!) { cancelTask(id: $id) { status } }", user=users["alice"], variables={"id": str(row.pk)}
    )
    assert out["data"]["cancelTask"] == {"status": "running"}
    row.refresh_from_db()
    assert row.cancel_requested is True


def test_cancel_and_retry_refuse_other_users_with_not_found(gql, users) -> None:
    row = _pending(users["alice"])
    for mutation in ("cancelTask", "retryTask"):
        out = gql(
            f"mutation($id: ID!) {{ {mutation}(id: $id) {{ status }} }}",
            user=users["bob"],
            variables={"id": str(row.pk)},
        )
        assert out["errors"][0]["message"] == "Task not found."
        anon = gql(f"mutation($id: ID!) {{ {mutation}(id: $id) {{ status }} }}", variables={"id": str(row.pk)})
        assert anon["errors"][0]["message"] == "Task not found."
    row.refresh_from_db()
    assert row.status == Status.PENDING


def test_retry_task_runs_a_failed_task_again(gql, users) -> None:
    out = gql('mutation { alwaysFails(message: "boom") { taskId } }', user=users["alice"])
    task_id = out["data"]["alwaysFails"]["taskId"]
    retried = gql(
        "mutation($id: ID!) { retryTask(id: $id) { status error retryCount } }",
        user=users["alice"],
        variables={"id": task_id},
    )
    # The sync backend runs it again at once; it fails again, from a fresh first attempt.
    assert retried["data"]["retryTask"] == {"status": "failed", "error": "boom", "retryCount": 0}
    assert TaskExecution.objects.get(pk=task_id).attempts == 1
    done = _report(gql, users["alice"])
    refused = gql("mutation($id: ID!) { retryTask(id: $id) { status } }", user=users["alice"], variables={"id": done})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
