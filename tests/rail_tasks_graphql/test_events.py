"""The notify hook: what reaches the Channels layer (real Redis), and the settings that shape it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import connections
from django.test import override_settings

from rail_tasks.plugins import get_plugin_manager
from rail_tasks_graphql.events import TaskSnapshot, owner_group, task_group
from rail_tasks_graphql.subscriptions import _Viewer

pytestmark = pytest.mark.django_db(transaction=True)


def _closing(action: Callable[[], Any]) -> Callable[[], Any]:
    """Run ``action`` and close the database connections its thread opened."""

    def run() -> Any:
        try:
            return action()
        finally:
            connections.close_all()

    return run


def _listen(group: str, action: Callable[[], Any], wait: float = 1.0) -> tuple[Any, list[dict[str, Any]]]:
    """Join ``group``, run ``action`` (in a thread, as a web request would), collect what arrives."""
    layer = get_channel_layer()

    async def go() -> tuple[Any, list[dict[str, Any]]]:
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            outcome = await asyncio.to_thread(_closing(action))
            got: list[dict[str, Any]] = []
            while True:
                try:
                    got.append(await asyncio.wait_for(layer.receive(channel), wait))
                except TimeoutError:
                    return outcome, got
        finally:
            await layer.group_discard(group, channel)

    return asyncio.run(go())


def _report(gql: Any, user: Any) -> str:
    out = gql('mutation { generateReport(datasetId: "e") { taskId } }', user=user)
    return str(out["data"]["generateReport"]["taskId"])


def test_hook_notify_is_registered_by_entry_point() -> None:
    info = get_plugin_manager().infos["graphql"]
    assert info.loaded
    assert info.dist == "rail-tasks-graphql"
    assert info.hooks == ["rail_tasks_notify"]


def test_events_reach_the_owner_group_with_snapshots(gql, users) -> None:
    task_id, messages = _listen(owner_group(users["alice"].pk), lambda: _report(gql, users["alice"]))
    snapshots = [TaskSnapshot.from_message(m) for m in messages]
    assert [(s.event, s.status, s.progress) for s in snapshots] == [
        ("enqueued", "pending", 0),
        ("started", "running", 0),
        ("progress", "running", 25),
        ("progress", "running", 50),
        ("progress", "running", 75),
        ("progress", "running", 100),
        ("completed", "completed", 100),
    ]
    assert {s.id for s in snapshots} == {task_id}
    assert {s.owner_id for s in snapshots} == {users["alice"].pk}
    assert snapshots[-1].result == {"ok": True, "file_path": "/reports/report-6.pdf", "dataset_id": "e"}
    assert snapshots[-1].completed_at is not None


def test_emit_subscriptions_false_sends_nothing(gql, users) -> None:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "emit_subscriptions": False}):
        _, messages = _listen(owner_group(users["alice"].pk), lambda: _report(gql, users["alice"]), wait=0.5)
    assert messages == []


def test_subscription_channel_prefixes_the_groups(gql, users) -> None:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "subscription_channel": "reports"}):
        assert owner_group(7) == "reports.owner.7"
        assert task_group("abc") == "reports.task.abc"
        _, messages = _listen(
            "reports.owner.{}".format(users["alice"].pk), lambda: _report(gql, users["alice"]), wait=0.5
        )
    assert [TaskSnapshot.from_message(m).event for m in messages][-1] == "completed"


def test_failures_carry_error_and_traceback_for_permission_checked_resolution(gql, users) -> None:
    _, messages = _listen(
        owner_group(users["bob"].pk),
        lambda: gql('mutation { alwaysFails(message: "bad") { taskId } }', user=users["bob"]),
    )
    final = TaskSnapshot.from_message(messages[-1])
    assert (final.event, final.status, final.error) == ("failed", "failed", "bad")
    assert final.exception_class == "builtins.ValueError"
    assert "ValueError: bad" in final.traceback  # resolved as null without the view permission


def test_viewer_standing_is_rechecked(users, monkeypatch) -> None:
    from rail_tasks_graphql import subscriptions

    monkeypatch.setattr(subscriptions, "VIEWER_RECHECK_SECONDS", 0)
    alice, bob = users["alice"], users["bob"]
    viewer = _Viewer(alice)
    mine = TaskSnapshot.from_message({"task": _snapshot_dict(owner_id=alice.pk)})
    theirs = TaskSnapshot.from_message({"task": _snapshot_dict(owner_id=bob.pk)})

    async def check() -> list[bool]:
        return [await viewer.may_see(mine), await viewer.may_see(theirs)]

    assert asyncio.run(check()) == [True, False]
    alice.is_active = False
    alice.save(update_fields=["is_active"])
    assert asyncio.run(check()) == [False, False]  # deactivated mid-stream: nothing more
    alice.is_active, alice.is_staff = True, True
    alice.save(update_fields=["is_active", "is_staff"])
    assert asyncio.run(check()) == [True, False]  # is_staff alone grants nothing
    alice.user_permissions.add(Permission.objects.get(codename="view_taskexecution"))
    assert asyncio.run(check()) == [True, True]  # the view permission sees every task


def _snapshot_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "00000000-0000-0000-0000-000000000001",
        "name": "t",
        "status": "running",
        "progress": 10,
        "progress_message": "",
        "result": None,
        "error": "",
        "traceback": "",
        "retry_count": 0,
        "attempts": 1,
        "queue": "default",
        "owner_id": None,
        "created_at": "2026-01-16T12:00:00+00:00",
        "started_at": None,
        "completed_at": None,
        "event": "progress",
    }
    data.update(overrides)
    return data


def test_an_unreachable_layer_pauses_publishing_instead_of_slowing_tasks(gql, users, settings) -> None:
    from channels.layers import channel_layers

    from rail_tasks_graphql import events

    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # Nothing listens on port 1: every connection attempt is refused at once.
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/3", "socket_timeout": None}]},
        }
    }
    channel_layers.backends.clear()
    try:
        started = time.monotonic()
        out = gql('mutation { generateReport(datasetId: "down") { status } }', user=users["alice"])
        elapsed = time.monotonic() - started
        assert out["data"]["generateReport"]["status"] == "completed"  # the task is not affected
        assert events._sender.paused_until > time.monotonic()
        assert elapsed < events.SEND_TIMEOUT_SECONDS
    finally:
        events._sender.paused_until = 0.0
        channel_layers.backends.clear()
