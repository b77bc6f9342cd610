"""Seeds 000/001 end to end: daphne on loopback, a websocket GraphQL client, a worker process, channels-redis.

The mutation goes over HTTP to daphne (graphene-django's view) and enqueues on the ``database``
alias; a separate ``rail_tasks_worker`` process runs it; its progress events travel through
Redis to daphne and over ``graphql-transport-ws`` to the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from rail_tasks import Status, TaskExecution
from tests.rail_tasks_graphql.live import (
    LiveServer,
    daphne_server,
    request,
    run_worker_burst,
    session_cookie,
    wait_for_members,
)
from tests.rail_tasks_graphql.seed_documents import SEED_001_MUTATION, SEED_001_QUERY

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


SEED_001_SUBSCRIPTION = """
subscription TaskProgress($taskId: ID!) {
  taskProgress(taskId: $taskId) {
    id
    status
    progress
    progressMessage
    result
    error
  }
}
"""

SEED_001_MY_TASKS = """
subscription MyTasks {
  myTaskUpdates {
    id
    name
    status
    progress
  }
}
"""

SEED_000_SUBSCRIPTION = """
subscription {
  taskUpdated(taskId: "%s") {
    status
    progress
    result
    error
  }
}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with daphne_server(tmp_path) as live:
        yield live


async def _collect(
    session: Any,
    document: str,
    variables: dict[str, Any] | None,
    into: list[dict[str, Any]],
    key: str,
    until: int | None = None,
) -> None:
    async for item in session.subscribe(request(document, variables)):
        into.append(item[key])
        if until is not None and len(into) >= until:
            return


def _run_worker() -> float:
    started = time.monotonic()
    done = run_worker_burst()
    assert done.returncode == 0, done.stdout
    return time.monotonic() - started


def test_seed_001_mutation_subscription_and_query_end_to_end(server: LiveServer, users: dict[str, Any]) -> None:
    cookie = session_cookie(users["alice"])
    created = server.post(SEED_001_MUTATION, {"datasetId": "123"}, cookie)
    assert "errors" not in created, created
    task_id = created["data"]["generateReport"]["taskId"]
    assert created["data"]["generateReport"]["status"] == "pending"  # waiting for a worker
    row = TaskExecution.objects.get(pk=task_id)
    assert (row.backend, row.owner_id) == ("database", users["alice"].pk)

    progress: list[dict[str, Any]] = []
    updated: list[dict[str, Any]] = []
    mine: list[dict[str, Any]] = []
    stats: dict[str, float] = {}

    async def scenario() -> None:
        async with server.session(cookie) as session:
            watchers = [
                asyncio.create_task(
                    _collect(session, SEED_001_SUBSCRIPTION, {"taskId": task_id}, progress, "taskProgress")
                ),
                asyncio.create_task(_collect(session, SEED_000_SUBSCRIPTION % task_id, None, updated, "taskUpdated")),
                asyncio.create_task(_collect(session, SEED_001_MY_TASKS, None, mine, "myTaskUpdates", until=6)),
            ]
            await wait_for_members(f"tasks.task.{task_id}", 2)
            await wait_for_members(f"tasks.owner.{users['alice'].pk}", 1)
            stats["worker_seconds"] = await asyncio.to_thread(_run_worker)
            await asyncio.wait_for(asyncio.gather(*watchers), timeout=30)

    asyncio.run(scenario())

    # taskProgress: 25/50/75/100 with their messages, then the final status with the result; then it ends.
    assert [(p["status"], p["progress"], p["progressMessage"]) for p in progress] == [
        ("running", 25, "Fetching data..."),
        ("running", 50, "Processing..."),
        ("running", 75, "Generating file..."),
        ("running", 100, "Complete"),
        ("completed", 100, "Complete"),
    ]
    assert all(p["id"] == task_id for p in progress)
    assert progress[-1]["result"] == {"ok": True, "file_path": "/reports/report-8.pdf", "dataset_id": "123"}
    assert progress[-1]["error"] is None
    # taskUpdated (seed 000): every change, started to completed.
    assert [(u["status"], u["progress"]) for u in updated] == [
        ("running", 0),
        ("running", 25),
        ("running", 50),
        ("running", 75),
        ("running", 100),
        ("completed", 100),
    ]
    assert updated[-1]["result"]["ok"] is True
    # myTaskUpdates: the same changes of alice's task.
    assert [(m["id"], m["name"], m["status"]) for m in mine][-1] == (task_id, "generate_report", "completed")

    query = server.post(SEED_001_QUERY, {"taskId": task_id}, cookie)["data"]["task"]
    assert (query["status"], query["progress"], query["progressMessage"]) == ("completed", 100, "Complete")
    assert query["result"]["file_path"] == "/reports/report-8.pdf"
    assert query["createdAt"]
    assert query["startedAt"]
    assert query["completedAt"]
    assert TaskExecution.objects.get(pk=task_id).worker_id  # ran in the worker process


def test_subscription_access(server: LiveServer, users: dict[str, Any]) -> None:
    alice, bob, root = (session_cookie(users[name]) for name in ("alice", "bob", "root"))
    task_id = server.post(SEED_001_MUTATION, {"datasetId": "7"}, alice)["data"]["generateReport"]["taskId"]
    errors: dict[str, Any] = {}
    staff_seen: list[dict[str, Any]] = []
    bob_mine: list[dict[str, Any]] = []

    async def expect_error(label: str, cookie: str | None, document: str, variables: dict[str, Any] | None) -> None:
        async with server.session(cookie) as session:
            with pytest.raises(TransportQueryError) as caught:
                async for _ in session.subscribe(request(document, variables)):
                    pass
            errors[label] = caught.value.errors

    async def scenario() -> None:
        await expect_error("bob", bob, SEED_001_SUBSCRIPTION, {"taskId": task_id})
        await expect_error("random", alice, SEED_001_SUBSCRIPTION, {"taskId": "5b5e1c53-0d5c-4a39-9a55-0b5b8b4f8a11"})
        await expect_error("anonymous", None, SEED_001_SUBSCRIPTION, {"taskId": task_id})
        await expect_error("anonymous-mine", None, SEED_001_MY_TASKS, None)
        async with server.session(root) as staff, server.session(bob) as other:
            watchers = [
                asyncio.create_task(
                    _collect(staff, SEED_001_SUBSCRIPTION, {"taskId": task_id}, staff_seen, "taskProgress")
                ),
                asyncio.create_task(_collect(other, SEED_001_MY_TASKS, None, bob_mine, "myTaskUpdates")),
            ]
            await wait_for_members(f"tasks.task.{task_id}", 1)
            await wait_for_members(f"tasks.owner.{users['bob'].pk}", 1)
            await asyncio.to_thread(_run_worker)
            await asyncio.wait_for(watchers[0], timeout=30)
            await asyncio.sleep(0.5)  # bob's stream had every chance to (wrongly) receive alice's events
            watchers[1].cancel()

    asyncio.run(scenario())
    for label in ("bob", "random", "anonymous"):
        assert [e["message"] for e in errors[label]] == ["Task not found."], label
    assert errors["bob"] == errors["random"]  # indistinguishable
    assert [e["message"] for e in errors["anonymous-mine"]] == ["Authentication required."]
    assert [p["progress"] for p in staff_seen] == [25, 50, 75, 100, 100]  # staff may watch any task
    assert bob_mine == []  # alice's events never reach bob's myTaskUpdates
    assert TaskExecution.objects.get(pk=task_id).status == Status.COMPLETED


def test_subscribing_to_a_finished_task_yields_its_final_state(server: LiveServer, users: dict[str, Any]) -> None:
    cookie = session_cookie(users["alice"])
    task_id = server.post(SEED_001_MUTATION, {"datasetId": "9"}, cookie)["data"]["generateReport"]["taskId"]
    _run_worker()
    seen: list[dict[str, Any]] = []

    async def scenario() -> None:
        async with server.session(cookie) as session:
            await asyncio.wait_for(
                _collect(session, SEED_001_SUBSCRIPTION, {"taskId": task_id}, seen, "taskProgress"), timeout=15
            )

    asyncio.run(scenario())
    assert [(s["status"], s["progress"]) for s in seen] == [("completed", 100)]


def test_queries_and_mutations_over_the_websocket(server: LiveServer, users: dict[str, Any]) -> None:
    cookie = session_cookie(users["bob"])
    out: dict[str, Any] = {}

    async def scenario() -> None:
        async with server.session(cookie) as session:
            out["created"] = await session.execute(request(SEED_001_MUTATION, {"datasetId": "ws"}))
            task_id = out["created"]["generateReport"]["taskId"]
            out["cancelled"] = await session.execute(
                request("mutation($id: ID!) { cancelTask(id: $id) { id status } }", {"id": task_id})
            )
            out["query"] = await session.execute(request(SEED_001_QUERY, {"taskId": task_id}))

    asyncio.run(scenario())
    assert out["created"]["generateReport"]["status"] == "pending"
    assert out["cancelled"]["cancelTask"]["status"] == "cancelled"
    assert out["query"]["task"]["status"] == "cancelled"
    assert TaskExecution.objects.get(pk=out["query"]["task"]["id"]).owner == users["bob"]


def test_event_latency_worker_to_websocket(server: LiveServer, users: dict[str, Any]) -> None:
    """Measure: progress sent in the worker -> Redis -> daphne -> websocket client (printed with -s)."""
    cookie = session_cookie(users["alice"])
    steps = 50
    created = server.post("mutation($n: Int) { stampedProgress(steps: $n) { taskId } }", {"n": steps}, cookie)
    task_id = created["data"]["stampedProgress"]["taskId"]
    latencies: list[float] = []

    async def scenario() -> None:
        async with server.session(cookie) as session:

            async def collect() -> None:
                document = "subscription($id: ID!) { taskProgress(taskId: $id) { status progressMessage } }"
                async for item in session.subscribe(request(document, {"id": task_id})):
                    update = item["taskProgress"]
                    if update["status"] == "running":
                        latencies.append(time.time() - float(update["progressMessage"]))

            watcher = asyncio.create_task(collect())
            await wait_for_members(f"tasks.task.{task_id}")
            await asyncio.to_thread(_run_worker)
            await asyncio.wait_for(watcher, timeout=30)

    asyncio.run(scenario())
    assert len(latencies) == steps  # every progress update arrived, none dropped or merged
    ordered = sorted(latencies)
    p50, p95 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.95)]
    print(f"\nevent latency worker->websocket over {steps} updates: p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms")
    assert p95 < 2.0


def test_a_late_subscriber_gets_the_current_state_first(server: LiveServer, users: dict[str, Any]) -> None:
    cookie = session_cookie(users["alice"])
    task_id = server.post(SEED_001_MUTATION, {"datasetId": "late"}, cookie)["data"]["generateReport"]["taskId"]
    # As if the worker had claimed it and reported 50% before the client subscribed.
    row = TaskExecution.objects.get(pk=task_id)
    assert row.claim("elsewhere:1")
    assert row.set_progress(row.attempts, 50, "Processing...")
    seen: list[dict[str, Any]] = []

    async def scenario() -> None:
        async with server.session(cookie) as session:
            document = "subscription($id: ID!) { taskUpdated(taskId: $id) { event status progress progressMessage } }"
            async for update in session.subscribe(request(document, {"id": task_id})):
                seen.append(update["taskUpdated"])
                break

    asyncio.run(asyncio.wait_for(scenario(), timeout=20))
    assert seen == [{"event": "current", "status": "running", "progress": 50, "progressMessage": "Processing..."}]
