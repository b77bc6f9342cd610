"""The user's Dramatiq broker: where it comes from, and what it can carry.

A backend's broker is, in this order: its ``dramatiq_broker`` option (a
dotted path to a ``Broker``, or a ``redis://`` / ``amqp://`` URL), else the
broker django_dramatiq built from ``DRAMATIQ_BROKER`` when that app is
installed. One broker object per path or URL per process, so the worker and
the backends of one process share it.
"""

from __future__ import annotations

import threading
from typing import Any

import dramatiq
from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from dramatiq import Broker

__all__ = ["BROKER_URL_SCHEMES", "RABBITMQ_SAFE_DELAY", "broker_kind", "resolve_broker"]

#: URL schemes a ``dramatiq_broker`` option may use, and the broker class each builds.
BROKER_URL_SCHEMES = {
    "redis": "dramatiq.brokers.redis.RedisBroker",
    "rediss": "dramatiq.brokers.redis.RedisBroker",
    "amqp": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
    "amqps": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
}

#: Longest delay (s) one RabbitMQ message waits unacknowledged in a worker: half RabbitMQ's default
#: ``consumer_timeout`` (30 min), past which the broker closes the worker's channel.
RABBITMQ_SAFE_DELAY = 900.0

_lock = threading.Lock()
_built: dict[str, Broker] = {}


def resolve_broker(source: str | None) -> Broker:
    """The broker named by ``source`` (dotted path or URL), else django_dramatiq's ``DRAMATIQ_BROKER``."""
    if not source:
        if apps.is_installed("django_dramatiq"):
            return dramatiq.get_broker()
        raise ImproperlyConfigured(
            "No Dramatiq broker: set the backend option 'dramatiq_broker' (a dotted path to a Broker, or a "
            "redis:// or amqp:// URL), or install django_dramatiq and set DRAMATIQ_BROKER."
        )
    with _lock:
        if source not in _built:
            _built[source] = _build(source)
        return _built[source]


def _build(source: str) -> Broker:
    scheme, sep, _ = source.partition("://")
    if sep:
        if scheme not in BROKER_URL_SCHEMES:
            raise ImproperlyConfigured(
                f"dramatiq_broker {source!r}: unknown URL scheme {scheme!r} "
                f"(use one of {', '.join(sorted(BROKER_URL_SCHEMES))}, or a dotted path to a Broker)"
            )
        broker: Any = import_string(BROKER_URL_SCHEMES[scheme])(url=source)
        return broker  # type: ignore[no-any-return]
    found = import_string(source)
    if callable(found) and not isinstance(found, Broker):
        found = found()
    if not isinstance(found, Broker):
        raise ImproperlyConfigured(f"dramatiq_broker {source!r} is a {type(found).__name__}, not a Dramatiq Broker")
    return found


def broker_kind(broker: Broker) -> str:
    """``"redis"``, ``"rabbitmq"``, or the broker's class name in lower case."""
    name = type(broker).__name__.lower()
    return "redis" if "redis" in name else "rabbitmq" if "rabbitmq" in name else name
