"""One rule on every surface: REST, GraphQL (HTTP and websocket subscriptions) and the admin agree on who
sees an execution, its raw error and its traceback, and who may cancel and retry it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from rail_tasks import Status, TaskExecution
from rail_tasks_graphql.consumers import GRAPHQL_TRANSPORT_WS, GraphQLTransportWSConsumer
from tests.rail_tasks_graphql.example.schema import schema

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.rail_tasks_graphql.example.urls")]

SECRET = "connection to db.internal:5432 as app password=hunter2 failed"


def _grant(user: Any, *codenames: str) -> Any:
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="rail_tasks", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)


def _failed(owner: Any) -> TaskExecution:
    return TaskExecution.objects.create(
        name="sync_accounts",
        task_path="x.y",
        owner=owner,
        status=Status.FAILED,
        attempts=1,
        error=SECRET,
        exception_class="psycopg.OperationalError",
        traceback=f"Traceback (most recent call last):\npsycopg.OperationalError: {SECRET}\n",
    )


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rest(user: Any, row: TaskExecution) -> dict[str, Any] | None:
    response = _client(user).get(f"/api/v1/tasks/{row.pk}/")
    return dict(response.json()) if response.status_code == 200 else None


def _graphql(user: Any, row: TaskExecution) -> dict[str, Any] | None:
    query = "query($id: ID!) { task(id: $id) { error exceptionClass traceback } }"
    body = json.dumps({"query": query, "variables": {"id": str(row.pk)}})
    out = _client(user).post("/graphql/", body, "application/json").json()
    task = out["data"]["task"] if out.get("data") else None
    return dict(task) if task else None


def _subscription(user: Any, row: TaskExecution) -> dict[str, Any] | None:
    """The first event of ``taskUpdated`` (a finished task's final state), or None when refused."""

    async def go() -> dict[str, Any]:
        communicator = WebsocketCommunicator(
            GraphQLTransportWSConsumer.as_asgi(schema=schema), "/graphql/", subprotocols=[GRAPHQL_TRANSPORT_WS]
        )
        communicator.scope["user"] = user
        await communicator.connect()
        await communicator.send_json_to({"type": "connection_init", "payload": {}})
        await communicator.receive_json_from(timeout=5)
        query = "subscription($id: ID!) { taskUpdated(taskId: $id) { error exceptionClass traceback } }"
        payload = {"query": query, "variables": {"id": str(row.pk)}}
        await communicator.send_json_to({"id": "s", "type": "subscribe", "payload": payload})
        message = dict(await communicator.receive_json_from(timeout=10))
        await communicator.disconnect()
        return message

    message = asyncio.run(go())
    return dict(message["payload"]["data"]["taskUpdated"]) if message["type"] == "next" else None


def _admin(user: Any, row: TaskExecution) -> bool:
    response = _client(user).get(reverse("admin:rail_tasks_taskexecution_change", args=[row.pk]))
    return response.status_code == 200 and SECRET in response.content.decode()


@pytest.mark.parametrize("who", ["owner", "other", "staff", "viewer", "superuser"])
def test_every_surface_shows_the_same_thing_to_the_same_user(users: dict[str, Any], who: str) -> None:
    row = _failed(users["alice"])
    named = {"owner": "alice", "other": "bob", "staff": "staff", "superuser": "root"}
    user = users[named[who]] if who in named else None
    if who == "viewer":
        user = _grant(users["bob"], "view_taskexecution")
        user.is_staff = True  # the admin needs is_staff to log in at all
        user.save(update_fields=["is_staff"])
    rest, graphql, live = _rest(user, row), _graphql(user, row), _subscription(user, row)
    sees_everything = who in ("viewer", "superuser")
    if who in ("other", "staff"):
        assert (rest, graphql, live) == (None, None, None)
    else:
        assert rest is not None
        assert graphql is not None
        assert live is not None
        expected_error = SECRET if sees_everything else "OperationalError: the task failed (details are hidden)."
        assert rest["error"] == graphql["error"] == live["error"] == expected_error
        assert rest["exception_class"] == graphql["exceptionClass"] == live["exceptionClass"]
        assert ("traceback" in rest) is sees_everything
        assert (graphql["traceback"] is not None) is sees_everything
        assert (live["traceback"] is not None) is sees_everything
    assert _admin(user, row) is sees_everything
