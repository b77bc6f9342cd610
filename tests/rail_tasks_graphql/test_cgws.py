"""The task subscriptions on a channels-graphql-ws endpoint (installed with --no-deps), end to end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gql.transport.exceptions import TransportQueryError

from tests.rail_tasks_graphql.live import (
    LiveServer,
    cgws_session,
    daphne_server,
    request,
    run_worker_burst,
    session_cookie,
    wait_for_members,
)

pytest.importorskip("channels_graphql_ws", reason="channels-graphql-ws is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

MUTATION = 'mutation { generateReport(datasetId: "cg") { taskId status } }'
PROGRESS = """
subscription TaskProgress($taskId: ID!) {
  taskProgress(taskId: $taskId) { id status progress progressMessage result error }
}
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with daphne_server(tmp_path) as live:
        yield live


def test_seed_001_subscription_on_channels_graphql_ws(server: LiveServer, users: dict[str, Any]) -> None:
    alice, bob = session_cookie(users["alice"]), session_cookie(users["bob"])
    task_id = server.post(MUTATION, None, alice)["data"]["generateReport"]["taskId"]
    seen: list[dict[str, Any]] = []
    refused: dict[str, Any] = {}

    async def collect(session: Any) -> None:
        async for item in session.subscribe(request(PROGRESS, {"taskId": task_id})):
            seen.append(item["taskProgress"])

    async def scenario() -> None:
        async with cgws_session(server, bob) as other:
            with pytest.raises(TransportQueryError) as caught:
                async for _ in other.subscribe(request(PROGRESS, {"taskId": task_id})):
                    pass
            refused["bob"] = caught.value.errors
        async with cgws_session(server, alice) as session:
            watcher = asyncio.create_task(collect(session))
            from rail_tasks_graphql.cgws import TaskProgressSubscription

            await wait_for_members(TaskProgressSubscription._group_name(task_id))
            done = await asyncio.to_thread(run_worker_burst)
            assert done.returncode == 0, done.stdout
            await asyncio.wait_for(watcher, timeout=30)

    asyncio.run(scenario())
    assert [e["message"] for e in refused["bob"]] == ["Task not found."]
    assert [(s["status"], s["progress"], s["progressMessage"]) for s in seen] == [
        ("running", 25, "Fetching data..."),
        ("running", 50, "Processing..."),
        ("running", 75, "Generating file..."),
        ("running", 100, "Complete"),
        ("completed", 100, "Complete"),
    ]
    assert seen[-1]["result"]["dataset_id"] == "cg"
