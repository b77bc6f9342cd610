"""Task change events on the Channels layer: what is sent, to which groups, and how.

The core calls the ``rail_tasks_notify`` hook on every change, in whatever process the
change happened (a worker, usually). :func:`publish` turns the row into a
:class:`TaskSnapshot` message and ``group_send``\\ s it to two groups:

* ``<subscription_channel>.task.<task id>``: ``taskUpdated`` / ``taskProgress``;
* ``<subscription_channel>.owner.<owner id>``: ``myTaskUpdates``.

The message carries the values of the moment (so a fast 25/50/75/100 sequence
arrives as such, not as four reads of the final row) and the owner id, so the web
process can check access on every event without trusting the sender's view.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from rail_tasks import task_settings
from rail_tasks_graphql.conf import graphql_setting

__all__ = [
    "EVENT_TYPE",
    "FINAL_EVENTS",
    "TaskSnapshot",
    "owner_group",
    "publish",
    "send_event",
    "task_group",
]

logger = logging.getLogger("rail_tasks.graphql")

#: ``type`` of the channel-layer messages (a consumer handler would be ``rail_tasks_event``).
EVENT_TYPE = "rail_tasks.event"
#: Events after which an execution does not change any more (until ``retryTask``).
FINAL_EVENTS = frozenset({"completed", "failed", "cancelled"})
_GROUP_NAME = re.compile(r"^[a-zA-Z0-9_.\-]{1,99}$")
_DATETIMES = ("created_at", "started_at", "completed_at")


@dataclass(slots=True)
class TaskSnapshot:
    """An execution's public fields at one moment, plus the event that produced them.

    Has the attribute names of :class:`rail_tasks.TaskExecution` that the GraphQL
    ``TaskExecution`` type reads, so both resolve the same way.
    """

    id: str
    name: str
    status: str
    progress: int
    progress_message: str
    result: Any
    error: str
    traceback: str
    retry_count: int
    attempts: int
    queue: str
    owner_id: Any
    created_at: datetime | None
    started_at: datetime | None
    completed_at: datetime | None
    event: str
    exception_class: str = ""

    @classmethod
    def from_execution(cls, execution: Any, event: str) -> TaskSnapshot:
        """Snapshot a ``TaskExecution`` row."""
        return cls(
            id=str(execution.id),
            name=execution.name,
            status=str(execution.status),
            progress=int(execution.progress),
            progress_message=execution.progress_message or "",
            result=execution.result,
            error=execution.error or "",
            traceback=execution.traceback or "",
            retry_count=int(execution.retry_count),
            attempts=int(execution.attempts),
            queue=execution.queue,
            owner_id=execution.owner_id,
            created_at=execution.created_at,
            started_at=execution.started_at,
            completed_at=execution.completed_at,
            event=event,
            exception_class=execution.exception_class or "",
        )

    def to_message(self) -> dict[str, Any]:
        """The channel-layer message (msgpack-safe: datetimes as ISO strings)."""
        data = asdict(self)
        for key in _DATETIMES:
            data[key] = data[key].isoformat() if data[key] is not None else None
        return {"type": EVENT_TYPE, "task": data}

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> TaskSnapshot:
        """Rebuild a snapshot from :meth:`to_message`'s output."""
        data = dict(message["task"])
        for key in _DATETIMES:
            data[key] = datetime.fromisoformat(data[key]) if data.get(key) else None
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def is_finished(self) -> bool:
        """Whether this event ends the execution."""
        return self.event in FINAL_EVENTS


def _prefix() -> str:
    return str(task_settings.subscription_channel)


def task_group(task_id: Any) -> str:
    """The group of one task's events."""
    return f"{_prefix()}.task.{task_id}"


def owner_group(owner_id: Any) -> str:
    """The group of every event of one owner's tasks."""
    return f"{_prefix()}.owner.{owner_id}"


def _layer() -> Any:
    from channels.layers import get_channel_layer

    return get_channel_layer()


async def send_event(layer: Any, snapshot: TaskSnapshot) -> None:
    """``group_send`` the snapshot to its task group and its owner's group (and to channels-graphql-ws)."""
    message = snapshot.to_message()
    groups = [task_group(snapshot.id)]
    if snapshot.owner_id is not None:
        groups.append(owner_group(snapshot.owner_id))
    invalid = [group for group in groups if not _GROUP_NAME.match(group)]
    if invalid:
        logger.error("Cannot publish task events: invalid channel-layer group name %r", invalid[0])
        return
    # Both groups at once (one event's order across groups does not matter); events stay in order
    # because publish() waits for this coroutine before the task goes on.
    await asyncio.gather(*(layer.group_send(group, message) for group in groups))
    if graphql_setting("channels_graphql_ws"):
        from rail_tasks_graphql.cgws import broadcast

        await broadcast(snapshot)


class _SenderLoop:
    """One event loop on a daemon thread per process, so the layer's Redis connections are reused.

    ``async_to_sync`` would start a fresh loop (and a fresh connection) for every event.
    Restarted after ``fork`` (prefork workers).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self.paused_until = 0.0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="rail-tasks-graphql-events", daemon=True)
                thread.start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def run(self, send: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run the coroutine ``send()`` makes on the sender loop and wait for it.

        A failed send is tried once more at once: after a Redis restart the first use of a
        pooled connection fails, the second opens a new one. When that fails too (Redis
        down), publishing pauses for :data:`PAUSE_AFTER_FAILURE_SECONDS` so that tasks are
        not slowed down by one timeout per progress update; logged once per pause.
        """
        if time.monotonic() < self.paused_until:
            return
        for attempt in (1, 2):
            future = asyncio.run_coroutine_threadsafe(send(), self.loop())
            try:
                future.result(timeout=SEND_TIMEOUT_SECONDS)
                return
            except Exception as exc:
                future.cancel()
                if attempt == 1 and not isinstance(exc, TimeoutError):
                    continue
                self.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
                logger.warning(
                    "Task events could not reach the channel layer (%s: %s); not publishing for %ss",
                    type(exc).__name__,
                    exc,
                    PAUSE_AFTER_FAILURE_SECONDS,
                )


#: How long one event may take to reach the channel layer before it is given up.
SEND_TIMEOUT_SECONDS = 5.0
#: After a failed send, events are dropped (not sent) for this many seconds.
PAUSE_AFTER_FAILURE_SECONDS = 30.0
_sender = _SenderLoop()


def publish(execution: Any, event: str) -> None:
    """Send an execution's change to subscription listeners (``emit_subscriptions`` permitting).

    Blocks until the layer accepted the message (about a millisecond on a local Redis), so
    events leave in the order they happened and none is lost when a worker process exits
    right after its task. The send runs on this module's own event loop thread, also when
    called from inside another event loop (an ``async def`` task).
    """
    if not task_settings.emit_subscriptions:
        return
    layer = _layer()
    if layer is None:
        logger.debug("No channel layer configured (CHANNEL_LAYERS); task events are not published")
        return
    snapshot = TaskSnapshot.from_execution(execution, event)
    _sender.run(lambda: send_event(layer, snapshot))
