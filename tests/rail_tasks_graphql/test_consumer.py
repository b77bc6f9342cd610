"""The graphql-transport-ws consumer, in process (Channels' communicator): the protocol's rules."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from rail_tasks_graphql.consumers import GRAPHQL_TRANSPORT_WS, GraphQLTransportWSConsumer
from rail_tasks_graphql.events import owner_group
from tests.rail_tasks_graphql.example.schema import schema
from tests.rail_tasks_graphql.live import group_members

pytestmark = pytest.mark.django_db(transaction=True)


class QuickConsumer(GraphQLTransportWSConsumer):
    connection_init_wait_timeout = 0.3


def _communicator(user: Any = None, subprotocols: list[str] | None = None) -> WebsocketCommunicator:
    app = QuickConsumer.as_asgi(schema=schema)
    communicator = WebsocketCommunicator(app, "/graphql/", subprotocols=subprotocols or [GRAPHQL_TRANSPORT_WS])
    if user is not None:
        communicator.scope["user"] = user
    return communicator


async def _closed_with(communicator: WebsocketCommunicator) -> int:
    message = await communicator.receive_output(timeout=3)
    while message["type"] != "websocket.close":
        message = await communicator.receive_output(timeout=3)
    return int(message["code"])


async def _ready(communicator: WebsocketCommunicator) -> None:
    connected, subprotocol = await communicator.connect()
    assert connected
    assert subprotocol == GRAPHQL_TRANSPORT_WS
    await communicator.send_json_to({"type": "connection_init", "payload": {}})
    assert await communicator.receive_json_from(timeout=5) == {"type": "connection_ack"}


def test_wrong_subprotocol_is_closed_4406() -> None:
    async def go() -> int:
        communicator = _communicator(subprotocols=["graphql-ws"])
        await communicator.connect()
        return await _closed_with(communicator)

    assert asyncio.run(go()) == 4406


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "subscribe", "id": "1", "payload": {"query": "{ hello }"}}], 4401),
        ([{"type": "connection_init"}, {"type": "connection_init"}], 4429),
        ([{"type": "connection_init"}, "not json"], 4400),
        ([{"type": "connection_init"}, {"type": "mystery"}], 4400),
    ],
)
def test_protocol_violations_close_the_socket(messages: list[Any], code: int) -> None:
    async def go() -> int:
        communicator = _communicator()
        await communicator.connect()
        for message in messages:
            await communicator.send_to(text_data=message if isinstance(message, str) else json.dumps(message))
        return await _closed_with(communicator)

    assert asyncio.run(go()) == code


def test_no_connection_init_in_time_is_closed_4408() -> None:
    async def go() -> int:
        communicator = _communicator()
        await communicator.connect()
        return await _closed_with(communicator)

    assert asyncio.run(go()) == 4408


def test_ping_pong_and_a_query(users) -> None:
    async def go() -> list[Any]:
        communicator = _communicator(users["alice"])
        await _ready(communicator)
        await communicator.send_json_to({"type": "ping"})
        pong = await communicator.receive_json_from(timeout=5)
        query = {"query": "{ hello tasks { id } }"}
        await communicator.send_json_to({"id": "q", "type": "subscribe", "payload": query})
        out = [pong, await communicator.receive_json_from(timeout=5), await communicator.receive_json_from(timeout=5)]
        await communicator.disconnect()
        return out

    assert asyncio.run(go()) == [
        {"type": "pong"},
        {"id": "q", "type": "next", "payload": {"data": {"hello": "world", "tasks": []}}},
        {"id": "q", "type": "complete"},
    ]


def test_errors_are_error_messages(users) -> None:
    async def go() -> list[Any]:
        communicator = _communicator(users["alice"])
        await _ready(communicator)
        await communicator.send_json_to(
            {
                "id": "s",
                "type": "subscribe",
                "payload": {"query": 'subscription { taskUpdated(taskId: "nope") { id } }'},
            }
        )
        await communicator.send_json_to({"id": "v", "type": "subscribe", "payload": {"query": "{ nonsense }"}})
        out = [await communicator.receive_json_from(timeout=5), await communicator.receive_json_from(timeout=5)]
        await communicator.disconnect()
        return sorted(out, key=lambda m: m["id"])

    not_found, invalid = asyncio.run(go())
    assert not_found["type"] == "error"
    assert [e["message"] for e in not_found["payload"]] == ["Task not found."]
    assert invalid["type"] == "error"
    assert "nonsense" in invalid["payload"][0]["message"]


def test_duplicate_id_is_closed_4409_and_complete_leaves_the_group(users) -> None:
    group = owner_group(users["alice"].pk)
    subscribe = {"id": "1", "type": "subscribe", "payload": {"query": "subscription { myTaskUpdates { id } }"}}

    async def wait_members(count: int) -> None:
        for _ in range(100):
            if await asyncio.to_thread(group_members, group) == count:
                return
            await asyncio.sleep(0.03)
        raise AssertionError(f"{group} never had {count} member(s)")

    async def go() -> int:
        communicator = _communicator(users["alice"])
        await _ready(communicator)
        await communicator.send_json_to(subscribe)
        await wait_members(1)
        await communicator.send_json_to({"id": "1", "type": "complete"})
        await wait_members(0)  # the subscription left its group
        await communicator.send_json_to(subscribe)
        await wait_members(1)
        await communicator.send_json_to(subscribe)
        code = await _closed_with(communicator)
        await communicator.disconnect()
        await wait_members(0)  # disconnecting stops every subscription
        return code

    assert asyncio.run(go()) == 4409
