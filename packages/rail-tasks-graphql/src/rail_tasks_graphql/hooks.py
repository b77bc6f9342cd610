"""rail-tasks-graphql's plugin: forwards every task change to subscription listeners.

Registered through the ``rail_tasks`` entry-point group (``graphql``). Runs in the
process where the change happened (usually a worker) and reaches the web process
through the Channels layer, so it needs ``CHANNEL_LAYERS`` configured there
(channels-redis for more than one process). ``emit_subscriptions: False`` in the
task settings switches it off; ``subscription_channel`` prefixes the group names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rail_tasks import hookimpl

if TYPE_CHECKING:
    from rail_tasks import TaskExecution


@hookimpl
def rail_tasks_notify(execution: TaskExecution, event: str) -> None:
    """Publish the change on the channel layer (see :func:`rail_tasks_graphql.events.publish`)."""
    from rail_tasks_graphql.events import publish

    publish(execution, event)
