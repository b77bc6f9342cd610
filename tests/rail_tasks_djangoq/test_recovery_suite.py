"""The engine kit's recovery suite on Django-Q2: real qclusters on the ORM and the Redis broker, killed for real."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rail_tasks.testing.recovery import RecoverySuite
from tests.rail_tasks_djangoq.conftest import QCluster


class _DjangoQRecovery(RecoverySuite):
    broker = "orm"

    @pytest.fixture
    def start_worker(self, qcluster_factory: Callable[..., QCluster]) -> Callable[..., Any]:
        def start(concurrency: int = 2) -> QCluster:
            return qcluster_factory(self.broker, env={"RAIL_TASKS_TEST_DJANGOQ_WORKERS": str(concurrency)})

        return start


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDjangoQORMRecovery(_DjangoQRecovery):
    backend_alias = "django_q"
    broker = "orm"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDjangoQRedisRecovery(_DjangoQRecovery):
    backend_alias = "django_q_redis"
    broker = "redis"
