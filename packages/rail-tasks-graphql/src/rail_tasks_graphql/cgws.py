"""The task subscriptions on a ``channels-graphql-ws`` endpoint, for projects that already run one.

``channels-graphql-ws`` is never a dependency of this package (its metadata caps Django
below 5); install it yourself (``pip install --no-deps django-channels-graphql-ws``, plus
``aiohttp`` which it imports) and compose::

    from rail_tasks_graphql.cgws import ChannelsGraphqlWsTaskSubscriptions

    class Subscription(ChannelsGraphqlWsTaskSubscriptions, MyOtherSubscriptions, graphene.ObjectType):
        pass

    class MyGraphqlWsConsumer(channels_graphql_ws.GraphqlWsConsumer):
        schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)

and switch the events on: ``RAIL_TASKS_GRAPHQL = {"channels_graphql_ws": True}`` (in the
workers' settings too). Each task event is then also broadcast through
``channels_graphql_ws.Subscription.broadcast`` to the groups of these subscriptions, and a
task's subscriptions are unsubscribed after its final event. Same fields, same access rules
as the native subscriptions in :mod:`rail_tasks_graphql.subscriptions`.
"""

from __future__ import annotations

from typing import Any

import channels_graphql_ws
import graphene
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser

from rail_tasks.permissions import may_view_all
from rail_tasks_graphql.errors import not_found, unauthenticated
from rail_tasks_graphql.events import FINAL_EVENTS, TaskSnapshot
from rail_tasks_graphql.queries import visible_task
from rail_tasks_graphql.subscriptions import _Viewer
from rail_tasks_graphql.types import TaskExecutionFields

__all__ = [
    "ChannelsGraphqlWsTaskSubscriptions",
    "MyTaskUpdatesSubscription",
    "TaskProgressSubscription",
    "TaskUpdatedSubscription",
    "broadcast",
]


#: Broadcast after a task's final event. Each subscription takes its notifications in order, so
#: when this one reaches it the final event has been sent, and the subscription ends then.
#: (``unsubscribe_async`` right after the broadcast could cancel it before it sent that event.)
_END: dict[str, Any] = {"rail_tasks_end": True}


async def _ended(payload: dict[str, Any], info: Any, cls: type[channels_graphql_ws.Subscription], task_id: str) -> bool:
    """Whether ``payload`` is the end marker; if so, stop this connection's subscriptions to the task."""
    if not payload.get("rail_tasks_end"):
        return False
    message = {"type": "unsubscribe", "group": cls._group_name(task_id)}
    await get_channel_layer().send(info.context.channel_name, message)
    return True


async def _scope_user(info: Any) -> Any:
    scope = getattr(info.context, "channels_scope", None) or {}
    user = scope.get("user") or AnonymousUser()
    # Load the user's permissions into its cache (in a thread): the TaskExecution resolvers read
    # info.context.user's permissions (error, traceback) inside the event loop.
    await database_sync_to_async(may_view_all)(user)
    info.context.user = user
    return user


async def _subscribe_task(info: Any, task_id: str) -> list[str]:
    user = await _scope_user(info)
    found = await database_sync_to_async(visible_task)(user, task_id) if user.is_authenticated else None
    if found is None:
        raise not_found()
    info.context.rail_viewer = _Viewer(user)
    return [str(found.pk)]


async def _visible(payload: dict[str, Any], info: Any) -> TaskSnapshot | None:
    snapshot = TaskSnapshot.from_message({"task": payload})
    viewer = getattr(info.context, "rail_viewer", None)
    if viewer is None or not await viewer.may_see(snapshot):
        return None
    return snapshot


class TaskUpdatedSubscription(TaskExecutionFields, channels_graphql_ws.Subscription):  # type: ignore[misc]
    """``taskUpdated(taskId)``: every change of one task."""

    class Arguments:
        task_id = graphene.ID(required=True)

    @staticmethod
    async def subscribe(root: Any, info: Any, task_id: str) -> list[str]:
        return await _subscribe_task(info, task_id)

    @staticmethod
    async def publish(payload: dict[str, Any], info: Any, task_id: str) -> TaskSnapshot | None:
        if await _ended(payload, info, TaskUpdatedSubscription, task_id):
            return None
        return await _visible(payload, info)


class TaskProgressSubscription(TaskExecutionFields, channels_graphql_ws.Subscription):  # type: ignore[misc]
    """``taskProgress(taskId)``: progress reports of one task and its final change."""

    class Arguments:
        task_id = graphene.ID(required=True)

    @staticmethod
    async def subscribe(root: Any, info: Any, task_id: str) -> list[str]:
        return await _subscribe_task(info, task_id)

    @staticmethod
    async def publish(payload: dict[str, Any], info: Any, task_id: str) -> TaskSnapshot | None:
        if await _ended(payload, info, TaskProgressSubscription, task_id):
            return None
        snapshot = await _visible(payload, info)
        if snapshot is None or not (snapshot.event == "progress" or snapshot.is_finished):
            return None
        return snapshot


class MyTaskUpdatesSubscription(TaskExecutionFields, channels_graphql_ws.Subscription):  # type: ignore[misc]
    """``myTaskUpdates``: every change of the viewer's tasks."""

    @staticmethod
    async def subscribe(root: Any, info: Any) -> list[str]:
        user = await _scope_user(info)
        if not user.is_authenticated:
            raise unauthenticated()
        info.context.rail_viewer = _Viewer(user)
        return [str(user.pk)]

    @staticmethod
    async def publish(payload: dict[str, Any], info: Any) -> TaskSnapshot | None:
        return await _visible(payload, info)


class ChannelsGraphqlWsTaskSubscriptions(graphene.ObjectType):  # type: ignore[misc]
    """Root subscription fields for a ``channels_graphql_ws.GraphqlWsConsumer`` schema."""

    task_updated = TaskUpdatedSubscription.Field()
    task_progress = TaskProgressSubscription.Field()
    my_task_updates = MyTaskUpdatesSubscription.Field()


async def broadcast(snapshot: TaskSnapshot) -> None:
    """Deliver one event to the channels-graphql-ws subscriptions (called by the notify hook)."""
    payload = snapshot.to_message()["task"]
    for cls in (TaskUpdatedSubscription, TaskProgressSubscription):
        await cls.broadcast_async(group=snapshot.id, payload=payload)
    if snapshot.owner_id is not None:
        await MyTaskUpdatesSubscription.broadcast_async(group=str(snapshot.owner_id), payload=payload)
    if snapshot.event in FINAL_EVENTS:
        for cls in (TaskUpdatedSubscription, TaskProgressSubscription):
            await cls.broadcast_async(group=snapshot.id, payload=_END)
