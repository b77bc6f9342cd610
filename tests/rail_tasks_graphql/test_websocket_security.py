"""The websocket consumer under attack: Origin, identity re-checked per operation, operation cap,
group membership that cannot leak, oversized results answered with an error (in process, real Redis)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.test import override_settings

from rail_tasks import TaskExecution
from rail_tasks_graphql.consumers import GRAPHQL_TRANSPORT_WS, GraphQLTransportWSConsumer
from rail_tasks_graphql.events import TaskSnapshot, owner_group, send_event
from tests.rail_tasks_graphql.example.schema import schema
from tests.rail_tasks_graphql.live import group_members, session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def _settings(**values: Any) -> Any:
    return override_settings(RAIL_TASKS={**settings.RAIL_TASKS, **values})


def _communicator(
    *, user: Any = None, headers: list[tuple[bytes, bytes]] | None = None, cookie: str | None = None
) -> WebsocketCommunicator:
    app: Any = GraphQLTransportWSConsumer.as_asgi(schema=schema)
    all_headers = list(headers or [])
    if cookie is not None:
        app = AuthMiddlewareStack(app)
        all_headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(app, "/graphql/", headers=all_headers, subprotocols=[GRAPHQL_TRANSPORT_WS])
    if user is not None:
        communicator.scope["user"] = user
    return communicator


async def _ready(communicator: WebsocketCommunicator) -> None:
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_json_to({"type": "connection_init", "payload": {}})
    assert await communicator.receive_json_from(timeout=5) == {"type": "connection_ack"}


async def _run(communicator: WebsocketCommunicator, op_id: str, query: str, **variables: Any) -> list[dict[str, Any]]:
    """Send one query or mutation; return its messages up to complete or error."""
    payload: dict[str, Any] = {"query": query, "variables": variables}
    await communicator.send_json_to({"id": op_id, "type": "subscribe", "payload": payload})
    out = []
    while True:
        message = await communicator.receive_json_from(timeout=10)
        out.append(message)
        if message["type"] in ("complete", "error"):
            return out


# ---------------------------------------------------------------------------
# Origin
# ---------------------------------------------------------------------------

ORIGIN_CASES = [
    (None, True),  # not a browser
    ("http://testserver", True),  # same origin as the Host header
    ("https://app.trusted.example", True),  # CSRF_TRUSTED_ORIGINS wildcard
    ("https://evil.example", False),
    ("null", False),
    ("https://testserver.evil.example", False),
]


@pytest.mark.parametrize(("origin", "accepted"), ORIGIN_CASES)
@pytest.mark.parametrize("allowed_hosts", [["testserver"], ["*"]])
def test_foreign_origins_are_refused_during_the_handshake(
    origin: str | None, accepted: bool, allowed_hosts: list[str]
) -> None:
    headers = [(b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))

    async def go() -> tuple[bool, Any]:
        communicator = _communicator(headers=headers)
        outcome = await communicator.connect()
        await communicator.disconnect()
        return outcome

    with override_settings(ALLOWED_HOSTS=allowed_hosts, CSRF_TRUSTED_ORIGINS=["https://*.trusted.example"]):
        connected, detail = asyncio.run(go())
    assert connected is accepted
    if not accepted:
        assert detail == 4403


def test_allowed_origins_setting_and_switching_the_check_off() -> None:
    headers = [(b"host", b"testserver"), (b"origin", b"https://partner.example")]

    async def go() -> bool:
        communicator = _communicator(headers=headers)
        connected, _ = await communicator.connect()
        await communicator.disconnect()
        return bool(connected)

    with override_settings(ALLOWED_HOSTS=["testserver"]):
        assert asyncio.run(go()) is False
        with _settings(websocket_allowed_origins=["https://partner.example"]):
            assert asyncio.run(go()) is True
        with _settings(websocket_check_origin=False):
            assert asyncio.run(go()) is True


# ---------------------------------------------------------------------------
# Identity, re-checked for every operation
# ---------------------------------------------------------------------------


def test_queries_and_mutations_recheck_the_user_on_every_operation(users: dict[str, Any]) -> None:
    """Deactivated, or logged out (sessions deleted): the same socket no longer sees or cancels tasks."""
    operator = users["bob"]
    operator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_taskexecution", "cancel_taskexecution"])
    )
    rows = [
        TaskExecution.objects.create(name="theirs", task_path="x.y", backend="database", owner=users["alice"])
        for _ in range(3)
    ]
    cookie = session_cookie(operator)
    listing = "{ tasks { id } }"
    cancel = "mutation($id: ID!) { cancelTask(id: $id) { status } }"

    async def go() -> list[Any]:
        communicator = _communicator(cookie=cookie)
        await _ready(communicator)
        seen = [len((await _run(communicator, "1", listing))[0]["payload"]["data"]["tasks"])]
        await sync_to_async(type(operator).objects.filter(pk=operator.pk).update)(is_active=False)
        seen.append((await _run(communicator, "2", listing))[0]["payload"]["data"]["tasks"])
        refused = (await _run(communicator, "3", cancel, id=str(rows[0].pk)))[0]["payload"]["errors"]
        seen.append(refused[0]["extensions"]["code"])
        await sync_to_async(type(operator).objects.filter(pk=operator.pk).update)(is_active=True)
        seen.append(len((await _run(communicator, "4", listing))[0]["payload"]["data"]["tasks"]))
        await sync_to_async(Session.objects.all().delete)()  # logged out everywhere
        seen.append((await _run(communicator, "5", listing))[0]["payload"]["data"]["tasks"])
        refused = (await _run(communicator, "6", cancel, id=str(rows[1].pk)))[0]["payload"]["errors"]
        seen.append(refused[0]["extensions"]["code"])
        await communicator.disconnect()
        return seen

    assert asyncio.run(go()) == [3, [], "NOT_FOUND", 3, [], "NOT_FOUND"]
    assert set(TaskExecution.objects.values_list("status", flat=True)) == {"pending"}


# ---------------------------------------------------------------------------
# Operations per connection, and group membership that cannot leak
# ---------------------------------------------------------------------------

MY_UPDATES = "subscription { myTaskUpdates { id } }"


async def _members(group: str, count: int, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    found = -1
    while time.monotonic() < deadline:
        found = await asyncio.to_thread(group_members, group)
        if found == count:
            return found
        await asyncio.sleep(0.05)
    return found


def test_operations_per_connection_are_capped(users: dict[str, Any]) -> None:
    group = owner_group(users["alice"].pk)

    async def go() -> tuple[list[str], int, str, int]:
        communicator = _communicator(user=users["alice"])
        await _ready(communicator)
        for n in range(5):
            await communicator.send_json_to({"id": str(n), "type": "subscribe", "payload": {"query": MY_UPDATES}})
        refused = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        members = await _members(group, 3)
        await communicator.send_json_to({"id": "0", "type": "complete"})
        await _members(group, 2)
        await communicator.send_json_to({"id": "again", "type": "subscribe", "payload": {"query": MY_UPDATES}})
        after = await _members(group, 3)
        await communicator.disconnect()
        return [m["payload"][0]["extensions"]["code"] for m in refused], members, refused[0]["id"], after

    with _settings(websocket_max_operations=3):
        codes, members, first_refused, after = asyncio.run(go())
    assert codes == ["TOO_MANY_OPERATIONS", "TOO_MANY_OPERATIONS"]
    assert first_refused == "3"
    assert (members, after) == (3, 3)


async def _publish_seconds(owner_id: Any, times: int = 20) -> float:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    snapshot = TaskSnapshot.from_message({"task": _snapshot(owner_id)})
    started = time.perf_counter()
    for _ in range(times):
        await send_event(layer, snapshot)
    return (time.perf_counter() - started) / times


def _snapshot(owner_id: Any) -> dict[str, Any]:
    return {
        "id": "00000000-0000-0000-0000-0000000000aa",
        "name": "t",
        "status": "running",
        "progress": 1,
        "progress_message": "",
        "result": None,
        "error": "",
        "traceback": "",
        "retry_count": 0,
        "attempts": 1,
        "queue": "default",
        "owner_id": owner_id,
        "created_at": None,
        "started_at": None,
        "completed_at": None,
        "event": "progress",
    }


def test_two_thousand_subscribes_then_close_leave_no_member_behind(users: dict[str, Any]) -> None:
    """The attack: one socket subscribes 2,000 times, then closes. Nothing may stay in the owner's group."""
    alice = users["alice"]
    group = owner_group(alice.pk)

    async def go() -> tuple[int, int, int, float, float]:
        baseline = await _publish_seconds(alice.pk)
        communicator = _communicator(user=alice)
        await _ready(communicator)
        for n in range(2000):
            await communicator.send_json_to({"id": str(n), "type": "subscribe", "payload": {"query": MY_UPDATES}})
        refused = 0
        for _ in range(1900):
            message = await communicator.receive_json_from(timeout=30)
            refused += message["payload"][0]["extensions"]["code"] == "TOO_MANY_OPERATIONS"
        joined = await _members(group, 100)
        await communicator.disconnect()
        left = await _members(group, 0)
        after = await _publish_seconds(alice.pk)
        return refused, joined, left, baseline, after

    refused, joined, left, baseline, after = asyncio.run(go())
    print(f"publish to the owner's group: {baseline * 1000:.2f} ms before, {after * 1000:.2f} ms after the attack")
    assert refused == 1900  # websocket_max_operations (100) running at once
    assert joined == 100
    assert left == 0  # every member left: later events cost what they cost before


class _FlakyLayer:
    """The real channel layer, whose first ``fail`` group_discard calls raise (a saturated pool)."""

    def __init__(self, layer: Any, fail: int) -> None:
        self._layer = layer
        self.fail = fail

    async def group_discard(self, group: str, channel: str) -> None:
        if self.fail:
            self.fail -= 1
            raise ConnectionError("Too many connections")
        await self._layer.group_discard(group, channel)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._layer, name)


def test_leaving_a_group_survives_channel_layer_errors(users: dict[str, Any], monkeypatch: Any) -> None:
    from channels.layers import get_channel_layer

    from rail_tasks_graphql import subscriptions

    flaky = _FlakyLayer(get_channel_layer(), fail=2)
    monkeypatch.setattr(subscriptions, "_layer", lambda: flaky)
    group = owner_group(users["alice"].pk)

    async def go() -> tuple[int, int]:
        communicator = _communicator(user=users["alice"])
        await _ready(communicator)
        await communicator.send_json_to({"id": "1", "type": "subscribe", "payload": {"query": MY_UPDATES}})
        joined = await _members(group, 1)
        await communicator.disconnect()
        return joined, await _members(group, 0)

    assert asyncio.run(go()) == (1, 0)
    assert flaky.fail == 0


# ---------------------------------------------------------------------------
# Results larger than a websocket message
# ---------------------------------------------------------------------------


def test_an_oversized_result_is_an_error_not_a_hang(users: dict[str, Any]) -> None:
    row = TaskExecution.objects.create(
        name="big", task_path="x.y", owner=users["alice"], status="completed", result="x" * 50_000
    )

    async def go() -> list[dict[str, Any]]:
        communicator = _communicator(user=users["alice"])
        await _ready(communicator)
        out = await _run(communicator, "big", "query($id: ID!) { task(id: $id) { result } }", id=str(row.pk))
        out += await _run(communicator, "small", "query($id: ID!) { task(id: $id) { name } }", id=str(row.pk))
        await communicator.disconnect()
        return out

    with _settings(websocket_max_message_bytes=10_000):
        error, small_next, small_complete = asyncio.run(go())
    assert (error["id"], error["type"]) == ("big", "error")
    assert error["payload"][0]["extensions"]["code"] == "RESULT_TOO_LARGE"
    assert small_next["payload"] == {"data": {"task": {"name": "big"}}}  # the connection goes on
    assert small_complete == {"id": "small", "type": "complete"}


def test_cost_limits_apply_over_the_websocket_too(users: dict[str, Any]) -> None:
    aliases = "{ " + " ".join(f"a{n}: tasks(limit: 100) {{ id }}" for n in range(1000)) + " }"
    typenames = "{ " + " ".join(f"a{n}: __typename" for n in range(100_000)) + " }"

    async def go() -> list[list[str]]:
        communicator = _communicator(user=users["alice"])
        await _ready(communicator)
        out = []
        for op_id, query in (("aliases", aliases), ("typenames", typenames)):
            (error,) = await _run(communicator, op_id, query)
            assert error["type"] == "error"
            out.append([e.get("extensions", {}).get("code") for e in error["payload"]])
        await communicator.disconnect()
        return out

    aliases_codes, typename_codes = asyncio.run(go())
    assert "LIMIT_EXCEEDED" in aliases_codes
    assert typename_codes == ["LIMIT_EXCEEDED"]
