"""The Redis cluster's broker as seen from a process whose ``Q_CLUSTER`` is the ORM cluster."""

from __future__ import annotations

from typing import Any

import redis
from django_q.brokers.redis_broker import Redis

from tests.rail_tasks_djangoq.settings_extra import REDIS_URL


class TestRedis(Redis):
    """Django-Q2's Redis broker on the test Redis database, whatever this process's ``Q_CLUSTER`` says."""

    @staticmethod
    def get_connection(list_key: str | None = None) -> Any:
        return redis.from_url(REDIS_URL)


def redis_broker(cluster: str) -> Redis:
    """The ``broker`` option of the ``django_q_redis`` alias."""
    return TestRedis(list_key=cluster)
