"""task(id), tasks(...), cancelTask and retryTask: results and who may see what."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from rail_tasks import Status, TaskExecution
from tests.rail_tasks_graphql.conftest import HIDDEN_VALUE_ERROR
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


def test_superusers_see_every_task_and_tracebacks(gql, users) -> None:
    out = gql('mutation { alwaysFails(message: "boom") { taskId } }', user=users["alice"])
    task_id = out["data"]["alwaysFails"]["taskId"]
    query = "query($id: ID!) { task(id: $id) { status error exceptionClass traceback } }"
    owner_view = gql(query, user=users["alice"], variables={"id": task_id})["data"]["task"]
    root_view = gql(query, user=users["root"], variables={"id": task_id})["data"]["task"]
    assert owner_view == {
        "status": "failed",
        "error": HIDDEN_VALUE_ERROR,
        "exceptionClass": "builtins.ValueError",
        "traceback": None,
    }
    assert root_view["error"] == "boom"
    assert "ValueError: boom" in root_view["traceback"]


def test_tasks_lists_only_the_viewers_tasks_filtered_in_the_database(gql, users) -> None:
    for dataset in ("1", "2"):
        _report(gql, users["alice"], dataset)
    gql('mutation { alwaysFails(message: "a-fail") { taskId } }', user=users["alice"])
    gql('mutation { alwaysFails(message: "b-fail") { taskId } }', user=users["bob"])

    alice = gql(SEED_001_FAILED, user=users["alice"])["data"]["tasks"]
    assert [(t["name"], t["error"], t["retryCount"]) for t in alice] == [("always_fails", HIDDEN_VALUE_ERROR, 0)]
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
    assert retried["data"]["retryTask"] == {"status": "failed", "error": HIDDEN_VALUE_ERROR, "retryCount": 0}
    assert TaskExecution.objects.get(pk=task_id).attempts == 1
    done = _report(gql, users["alice"])
    refused = gql("mutation($id: ID!) { retryTask(id: $id) { status } }", user=users["alice"], variables={"id": done})
    assert refused["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def _grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="rail_tasks", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # a fresh object: no cached permissions


def test_is_staff_alone_grants_nothing(gql, users) -> None:
    out = gql('mutation { alwaysFails(message: "secret") { taskId } }', user=users["alice"])
    task_id = out["data"]["alwaysFails"]["taskId"]
    staff = users["staff"]
    seen = gql("query($id: ID!) { task(id: $id) { error traceback } }", user=staff, variables={"id": task_id})
    assert seen["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert gql("{ tasks { id } }", user=staff)["data"]["tasks"] == []
    row = _pending(users["alice"])
    cancel = gql("mutation($id: ID!) { cancelTask(id: $id) { status } }", user=staff, variables={"id": str(row.pk)})
    assert cancel["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    row.refresh_from_db()
    assert row.status == Status.PENDING


def test_cancel_and_retry_of_others_tasks_need_their_permissions(gql, users) -> None:
    row = _pending(users["alice"])
    viewer = _grant(users["bob"], "view_taskexecution")
    mutation = "mutation($id: ID!) { cancelTask(id: $id) { status } }"
    refused = gql(mutation, user=viewer, variables={"id": str(row.pk)})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    row.refresh_from_db()
    assert row.status == Status.PENDING
    operator = _grant(viewer, "cancel_taskexecution")
    assert gql(mutation, user=operator, variables={"id": str(row.pk)})["data"]["cancelTask"] == {"status": "cancelled"}
    retry = "mutation($id: ID!) { retryTask(id: $id) { status } }"
    assert gql(retry, user=operator, variables={"id": str(row.pk)})["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    operator = _grant(operator, "retry_taskexecution")
    assert gql(retry, user=operator, variables={"id": str(row.pk)})["data"]["retryTask"] == {"status": "pending"}


def test_an_owner_cannot_undo_a_cancel_by_retrying(gql, users) -> None:
    """The documented rule: owners retry their failed tasks; a cancelled one needs the retry permission."""
    row = _pending(users["alice"])
    operator = _grant(users["bob"], "view_taskexecution", "cancel_taskexecution")
    gql("mutation($id: ID!) { cancelTask(id: $id) { status } }", user=operator, variables={"id": str(row.pk)})
    retried = gql(
        "mutation($id: ID!) { retryTask(id: $id) { status } }", user=users["alice"], variables={"id": str(row.pk)}
    )
    assert retried["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    row.refresh_from_db()
    assert row.status == Status.CANCELLED


@pytest.mark.parametrize("name", ["a\x00b", "x" * 300])
def test_bad_name_filter_is_a_validation_error_not_a_driver_message(gql, users, name: str) -> None:
    out = gql("query($n: String) { tasks(name: $n) { id } }", user=users["alice"], variables={"n": name})
    assert [e["extensions"]["code"] for e in out["errors"]] == ["BAD_REQUEST"]
    assert "name" in out["errors"][0]["message"]


def test_unexpected_resolver_errors_do_not_leak_their_text(gql, users, monkeypatch) -> None:
    from rail_tasks_graphql import queries

    def broken(user, task_id):
        raise RuntimeError("connection to server at 10.0.0.5, password=hunter2 failed")

    monkeypatch.setattr(queries, "visible_task", broken)
    out = gql('{ task(id: "00000000-0000-0000-0000-000000000001") { id } }', user=users["alice"])
    assert [(e["message"], e["extensions"]["code"]) for e in out["errors"]] == [("Internal error.", "INTERNAL_ERROR")]


def _task_selects(queries) -> list[str]:
    return [
        q["sql"].split(" FROM ")[0]
        for q in queries.captured_queries
        if q["sql"].startswith("SELECT") and "rail_tasks_taskexecution" in q["sql"]
    ]


def test_tasks_list_loads_only_the_columns_it_shows(gql, users) -> None:
    """One large row must not slow every listing: arguments never, results only when asked for."""
    big = "x" * 100_000
    TaskExecution.objects.create(
        name="heavy", task_path="x.y", owner=users["alice"], kwargs={"b": big}, result={"b": big}, traceback=big
    )
    with CaptureQueriesContext(connection) as queries:
        out = gql("{ tasks { id name status progress } }", user=users["alice"])
    assert out["data"]["tasks"][0]["name"] == "heavy"
    (select,) = _task_selects(queries)
    for column in ("args", "kwargs", "metadata", "result", "traceback", "error"):
        assert f'"rail_tasks_taskexecution"."{column}"' not in select, column

    with CaptureQueriesContext(connection) as queries:
        out = gql("{ tasks { ...F } } fragment F on TaskExecution { result }", user=users["alice"])
    assert out["data"]["tasks"][0]["result"] == {"b": big}
    (select,) = _task_selects(queries)  # asked for: loaded in the same query, not one more per row
    assert '"rail_tasks_taskexecution"."result"' in select
    assert '"rail_tasks_taskexecution"."kwargs"' not in select
