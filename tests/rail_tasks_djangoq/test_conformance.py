"""The core's conformance suite on Django-Q2: the ORM broker (PostgreSQL) and the Redis broker, real qclusters."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rail_tasks.testing import ConformanceSuite
from tests.process import subprocess_env
from tests.rail_tasks_djangoq.conftest import QCluster


class _DjangoQSuite(ConformanceSuite):
    broker = "orm"

    @pytest.fixture(scope="class")
    @classmethod
    def worker(cls, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        """One cluster for the whole class (startup takes a few seconds)."""
        log = Path(tmp_path_factory.mktemp("qcluster")) / "qcluster.log"
        cluster = QCluster(log, broker=cls.broker).start()
        try:
            yield
        finally:
            cluster.stop()

    def subprocess_env(self) -> dict[str, str]:
        """Child processes of the suite use the test database."""
        return subprocess_env()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDjangoQORMConformance(_DjangoQSuite):
    backend_alias = "django_q"
    broker = "orm"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDjangoQRedisConformance(_DjangoQSuite):
    backend_alias = "django_q_redis"
    broker = "redis"
    # run_after goes through a one-off schedule, which Django-Q2's scheduler reads every 30 seconds.
    wait_timeout = 45.0
