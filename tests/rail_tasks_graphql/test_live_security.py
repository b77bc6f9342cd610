"""The websocket attacks against a real daphne: foreign Origin, a result over daphne's 1 MB frame."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from gql.transport.exceptions import TransportQueryError
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from rail_tasks import TaskExecution
from tests.rail_tasks_graphql.live import LiveServer, daphne_server, request, session_cookie

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with daphne_server(tmp_path) as live:
        yield live


def test_a_foreign_origin_with_the_victims_cookie_is_refused(server: LiveServer, users: dict[str, Any]) -> None:
    cookie = session_cookie(users["alice"])

    async def handshake(origin: str) -> Any:
        try:
            async with connect(
                server.ws_url,
                origin=websockets.Origin(origin),
                subprotocols=[websockets.Subprotocol("graphql-transport-ws")],
                additional_headers={"Cookie": cookie},
            ) as socket:
                await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
                return json.loads(await asyncio.wait_for(socket.recv(), 10))
        except InvalidStatus as refused:
            return refused.response.status_code

    assert asyncio.run(handshake("https://evil.example")) == 403
    assert asyncio.run(handshake(f"http://127.0.0.1:{server.port}")) == {"type": "connection_ack"}


def test_a_result_over_the_frame_size_is_an_error_not_a_hang(server: LiveServer, users: dict[str, Any]) -> None:
    """daphne drops frames over 1 MiB; the client must get an error for the operation."""
    alice = users["alice"]
    row = TaskExecution.objects.create(
        name="big", task_path="x.y", owner=alice, status="completed", result="x" * 1_040_000
    )

    cookie = session_cookie(alice)

    async def go() -> Any:
        async with server.session(cookie) as session:
            document = request("query($id: ID!) { task(id: $id) { result } }", {"id": str(row.pk)})
            with pytest.raises(TransportQueryError) as refused:
                await asyncio.wait_for(session.execute(document), 15)
            small = await asyncio.wait_for(
                session.execute(request("query($id: ID!) { task(id: $id) { name } }", {"id": str(row.pk)})), 15
            )
            return refused.value.errors, small

    errors, small = asyncio.run(go())
    assert errors is not None
    assert errors[0]["extensions"]["code"] == "RESULT_TOO_LARGE"
    assert small == {"task": {"name": "big"}}
