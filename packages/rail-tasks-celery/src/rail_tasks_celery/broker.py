"""What the backend needs to know about the user's Celery app and its broker.

Resolves the app (the ``celery_app`` setting, or Celery's current app), and
maps rail-tasks' queue, priority and delay onto what the broker understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from celery import Celery
from celery.app import app_or_default
from kombu.utils.imports import symbol_by_name

from rail_tasks.engine import scale_priority

__all__ = ["BrokerInfo", "resolve_app"]

#: Redis redelivers a message nobody acked within this many seconds (Celery's default).
DEFAULT_VISIBILITY_TIMEOUT = 3600.0

#: Transports that redeliver unacknowledged messages after a visibility timeout.
_VISIBILITY_TRANSPORTS = frozenset({"redis", "rediss", "sentinel", "sqs"})


def resolve_app(path: str | None) -> Celery:
    """The Celery app named by ``path`` (``"proj.celery.app"`` or ``"proj.celery:app"``), else the current app."""
    if not path:
        return app_or_default()
    found = symbol_by_name(path)
    if not isinstance(found, Celery):
        raise TypeError(f"celery_app {path!r} is a {type(found).__name__}, not a Celery app")
    return found


@dataclass
class BrokerInfo:
    """Facts about the broker of ``app`` that change how messages are sent."""

    app: Celery

    @cached_property
    def transport(self) -> str:
        """The kombu transport name, e.g. ``redis`` or ``amqp``."""
        connection = self.app.connection_for_write()
        try:
            return str(connection.transport.driver_type)
        finally:
            connection.release()

    @property
    def transport_options(self) -> dict[str, Any]:
        """The app's ``broker_transport_options``."""
        return dict(self.app.conf.broker_transport_options or {})

    @property
    def visibility_timeout(self) -> float | None:
        """Seconds before an unacknowledged message is redelivered, or ``None`` when the broker has no such limit."""
        if self.transport not in _VISIBILITY_TRANSPORTS:
            return None
        return float(self.transport_options.get("visibility_timeout", DEFAULT_VISIBILITY_TIMEOUT))

    @property
    def max_countdown(self) -> float | None:
        """The longest delay one message may safely wait in a worker (``None``: no limit).

        A message held past the visibility timeout is delivered again, and
        again; longer delays are sent as several shorter hops instead.
        """
        timeout = self.visibility_timeout
        if timeout is None:
            return None
        return max(timeout * 0.8, 1.0)

    def priority(self, priority: int) -> int:
        """Map a Django priority (-100..100, higher first) onto the broker's 0..9 scale.

        RabbitMQ serves higher numbers first (queues need ``x-max-priority``);
        Celery's Redis transport serves lower numbers first.
        """
        return scale_priority(priority, 10, higher_first=self.transport not in {"redis", "rediss", "sentinel"})
