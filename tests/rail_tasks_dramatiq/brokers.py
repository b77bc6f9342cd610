"""The test brokers, named by dotted path in ``TASKS[...]['OPTIONS']['dramatiq_broker']``."""

from __future__ import annotations

import os

from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker

from tests.rail_tasks_dramatiq.settings_extra import AMQP_URL, REDIS_URL, run_id


def redis() -> RedisBroker:
    """Redis, in this run's own namespace; a killed worker's messages come back after 5 s, not 60 s."""
    url = os.environ.get("RAIL_TASKS_TEST_DRAMATIQ_REDIS_URL", REDIS_URL)  # a private Redis for restart tests
    if os.environ.get("RAIL_BENCH"):  # benchmarks/dramatiq.py: Dramatiq's defaults
        return RedisBroker(url=url, namespace=f"rt-{run_id()}")
    return RedisBroker(url=url, namespace=f"rt-{run_id()}", heartbeat_timeout=5000, maintenance_chance=50000)


def rabbitmq() -> RabbitmqBroker:
    """RabbitMQ with message priorities (queues declared with ``x-max-priority``)."""
    return RabbitmqBroker(url=AMQP_URL, max_priority=9)
