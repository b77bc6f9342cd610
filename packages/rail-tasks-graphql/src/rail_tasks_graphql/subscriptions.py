"""``taskUpdated(taskId)``, ``taskProgress(taskId)`` and ``myTaskUpdates``: graphene subscriptions.

Compose them into your schema (``class Subscription(TaskSubscriptions, graphene.ObjectType)``)
and serve it with :class:`rail_tasks_graphql.consumers.GraphQLTransportWSConsumer`
(or any server running graphene's native subscriptions inside a Channels app).

Each subscription owns a channel on the Channels layer and joins the event groups
of :mod:`rail_tasks_graphql.events`; events come from whatever process ran the task.

* ``taskUpdated``: every change (enqueued, started, progress, retrying, completed,
  failed, cancelled); ends after the final one.
* ``taskProgress``: progress reports and the final change; ends after the final one.
* ``myTaskUpdates``: every change of every task the viewer owns; never ends.

Access is checked when subscribing (someone else's task or a missing id: the same
``NOT_FOUND`` error; anonymous viewers get nothing) and again for every event: the
event's owner must still be the viewer, or the viewer must hold
``rail_tasks.view_taskexecution``, and the viewer must still be an active user (re-read
from the database at most once per :data:`VIEWER_RECHECK_SECONDS`; over
:class:`~rail_tasks_graphql.consumers.GraphQLTransportWSConsumer` the re-read also ends
when the session was logged out).

What a subscriber sees first: a task that already finished yields its final state once and
ends; a task that already started yields its current state (``event: "current"``) and then
its changes; a pending task yields its changes only.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import graphene
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from rail_tasks.permissions import is_owner, may_view_all
from rail_tasks_graphql.errors import guarded, not_found, unauthenticated
from rail_tasks_graphql.events import FINAL_EVENTS, TaskSnapshot, owner_group, task_group
from rail_tasks_graphql.queries import visible_task
from rail_tasks_graphql.types import TaskExecutionType

__all__ = ["VIEWER_RECHECK_SECONDS", "TaskSubscriptions"]

logger = logging.getLogger("rail_tasks.graphql")

#: How often (seconds) a subscription re-reads its viewer's standing (active, staff).
VIEWER_RECHECK_SECONDS = 1.0


def _layer() -> Any:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("Task subscriptions need a channel layer: configure CHANNEL_LAYERS (channels-redis).")
    return layer


class _Viewer:
    """The subscribing user, with their standing refreshed from the database now and then.

    With a ``context`` whose ``current_user()`` re-authenticates (the websocket consumer's
    context does: user row and session), that is used, and ``context.user`` is refreshed
    too, so the fields of later events are resolved for the user as they are now.
    """

    def __init__(self, user: Any, context: Any = None) -> None:
        self.pk = user.pk
        self.user = user
        self.view_all = False  # read from the database before the first event (not here: async code)
        self._context = context
        self._checked = -math.inf

    def _reload(self) -> None:
        current = getattr(self._context, "current_user", None)
        if not callable(current):
            current = get_user_model()._default_manager.filter(pk=self.pk).first
        user = current()
        if user is None or not user.is_authenticated or str(user.pk) != str(self.pk):
            from django.contrib.auth.models import AnonymousUser

            user = AnonymousUser()
        self.user = user
        self.view_all = may_view_all(user)
        if self._context is not None and hasattr(self._context, "user"):
            self._context.user = user

    async def refresh(self, *, at_most_every: float = 0.0) -> None:
        """Re-read the viewer (in a thread), unless that was done less than ``at_most_every`` seconds ago.

        The reload also loads the user's permissions into its cache, so the fields of the
        next events (``error``, ``traceback``) are resolved without database access in the
        event loop.
        """
        if time.monotonic() - self._checked >= at_most_every:
            await database_sync_to_async(self._reload)()
            self._checked = time.monotonic()

    async def may_see(self, snapshot: TaskSnapshot) -> bool:
        """Whether this event may be shown to the viewer."""
        await self.refresh(at_most_every=VIEWER_RECHECK_SECONDS)
        return self.view_all or is_owner(self.user, snapshot)


def _authenticated_user(info: Any) -> Any:
    user = getattr(info.context, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user


#: Channel-layer group operations (join, leave) one event loop runs at once. A socket that
#: subscribes thousands of times must not take every connection of the layer's pool (redis-py:
#: 100 by default), or the others' joins and leaves fail.
LAYER_CONCURRENCY = 16
#: Attempts to leave a group before the membership is given up to the group's expiry.
LEAVE_ATTEMPTS = 5
_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def _layer_slot() -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    semaphore = _semaphores.get(loop)
    if semaphore is None:
        semaphore = _semaphores[loop] = asyncio.Semaphore(LAYER_CONCURRENCY)
    return semaphore


async def _join(layer: Any, group: str, channel: str) -> None:
    async with _layer_slot():
        await layer.group_add(group, channel)


async def _leave(layer: Any, groups: list[str], channel: str) -> None:
    """Leave every group, retrying failed attempts: a member left behind receives (and slows) every
    later event of the group until the layer's group expiry (a day with channels-redis)."""
    for group in groups:
        for attempt in range(1, LEAVE_ATTEMPTS + 1):
            try:
                async with _layer_slot():
                    await layer.group_discard(group, channel)
                break
            except Exception as exc:
                if attempt == LEAVE_ATTEMPTS:
                    logger.error("Could not leave channel-layer group %s after %d attempts: %s", group, attempt, exc)
                else:
                    await asyncio.sleep(0.05 * 2**attempt)


async def _stream(
    layer: Any,
    groups: list[str],
    viewer: _Viewer,
    *,
    wanted: Callable[[TaskSnapshot], bool],
    ends: bool,
    current: Callable[[], Awaitable[Any]] | None = None,
) -> AsyncIterator[TaskSnapshot]:
    """Join ``groups`` when first iterated, yield what the viewer may see, leave on any exit.

    Joining happens inside the generator, so a subscription that is never iterated (its
    socket closed first) never joins, and every exit path (end, error, cancellation) leaves.
    ``current`` re-reads the task after joining, so no change between the access check and
    the join is lost.
    """
    # The layer's default prefix: channels-redis pops all of a process's channels through one shared
    # list per prefix, so a prefix of our own would wait its turn behind the consumers' channels.
    channel = await layer.new_channel()
    joined: list[str] = []
    try:
        for group in groups:
            joined.append(group)
            await _join(layer, group, channel)
        initial = None
        if current is not None:
            row = await current()
            if row is None:
                raise not_found()
            initial = _initial_state(row)
        if initial is not None:
            await viewer.refresh()  # the viewer's permissions, read in a thread, for the fields' resolvers
            yield initial
            if initial.is_finished:
                return
        while True:
            snapshot = TaskSnapshot.from_message(await layer.receive(channel))
            if not wanted(snapshot) or not await viewer.may_see(snapshot):
                continue
            if initial is not None and _same_state(snapshot, initial):
                continue  # the change the initial state already showed, queued while we joined
            yield snapshot
            if ends and snapshot.is_finished:
                return
    finally:
        if joined:
            # Shielded: a cancelled subscription (closed socket) still leaves its groups.
            await asyncio.shield(_leave(layer, joined, channel))


async def _subscribe_task(info: Any, task_id: str, wanted: Callable[[TaskSnapshot], bool]) -> AsyncIterator[Any]:
    user = _authenticated_user(info)
    if user is None:
        raise not_found()
    found = await database_sync_to_async(visible_task)(user, task_id)
    if found is None:
        raise not_found()

    async def current() -> Any:
        return await database_sync_to_async(visible_task)(user, found.pk)

    viewer = _Viewer(user, info.context)
    return _stream(_layer(), [task_group(found.pk)], viewer, wanted=wanted, ends=True, current=current)


def _initial_state(current: Any) -> TaskSnapshot | None:
    """What a new subscriber sees first: a finished task's end, a started task's current state."""
    if current.is_finished:
        return TaskSnapshot.from_execution(current, str(current.status))
    if current.attempts > 0:  # running or retrying: the subscriber may have missed earlier updates
        return TaskSnapshot.from_execution(current, "current")
    return None  # pending and never started: every change is still to come


def _same_state(a: TaskSnapshot, b: TaskSnapshot) -> bool:
    return (a.status, a.progress, a.progress_message, a.attempts) == (
        b.status,
        b.progress,
        b.progress_message,
        b.attempts,
    )


def _every(snapshot: TaskSnapshot) -> bool:
    return True


def _progress_or_final(snapshot: TaskSnapshot) -> bool:
    return snapshot.event == "progress" or snapshot.event in FINAL_EVENTS


def _task_id_argument() -> dict[str, graphene.Argument]:
    return {"task_id": graphene.Argument(graphene.NonNull(graphene.ID), name="taskId")}


class TaskSubscriptions(graphene.ObjectType):  # type: ignore[misc]
    """Root subscription fields for task events.

    The seeds spell ``taskUpdated(taskId:)``, ``taskProgress(taskId:)`` and
    ``myTaskUpdates`` even in snake_case schemas, so those spellings exist in every
    schema; snake_case schemas also offer ``task_updated(task_id:)`` and friends.
    """

    task_updated = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        task_id=graphene.ID(required=True),
        description="Every change of one task; ends after it completes, fails or is cancelled.",
    )
    task_progress = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        task_id=graphene.ID(required=True),
        description="Progress reports of one task and its final change; ends after that.",
    )
    my_task_updates = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        description="Every change of every task the viewer owns.",
    )
    task_updated_seed = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        args=_task_id_argument(),
        name="taskUpdated",
        description="Every change of one task; ends after it completes, fails or is cancelled.",
    )
    task_progress_seed = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        args=_task_id_argument(),
        name="taskProgress",
        description="Progress reports of one task and its final change; ends after that.",
    )
    my_task_updates_seed = graphene.Field(
        graphene.NonNull(TaskExecutionType),
        name="myTaskUpdates",
        description="Every change of every task the viewer owns.",
    )

    @staticmethod
    @guarded
    async def subscribe_task_updated(root: Any, info: Any, task_id: str) -> AsyncIterator[Any]:
        return await _subscribe_task(info, task_id, _every)

    @staticmethod
    @guarded
    async def subscribe_task_progress(root: Any, info: Any, task_id: str) -> AsyncIterator[Any]:
        return await _subscribe_task(info, task_id, _progress_or_final)

    @staticmethod
    @guarded
    async def subscribe_my_task_updates(root: Any, info: Any) -> AsyncIterator[Any]:
        user = _authenticated_user(info)
        if user is None:
            raise unauthenticated()
        viewer = _Viewer(user, info.context)
        return _stream(_layer(), [owner_group(user.pk)], viewer, wanted=_every, ends=False)

    subscribe_task_updated_seed = subscribe_task_updated
    subscribe_task_progress_seed = subscribe_task_progress
    subscribe_my_task_updates_seed = subscribe_my_task_updates
