"""The core's conformance suite on Dramatiq: Redis and RabbitMQ brokers, real worker processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rail_tasks.testing import ConformanceSuite
from tests.process import subprocess_env
from tests.rail_tasks_dramatiq.conftest import DramatiqWorker


class _DramatiqSuite(ConformanceSuite):
    wait_timeout = 30.0

    @pytest.fixture(scope="class")
    @classmethod
    def worker(cls, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        """One worker command (2 processes, Dramatiq's threads) for the whole class."""
        log = Path(tmp_path_factory.mktemp("dramatiq-worker")) / "worker.log"
        process = DramatiqWorker(cls.backend_alias, log, processes=2, threads=4).start()
        try:
            yield
        finally:
            process.stop()

    def subprocess_env(self) -> dict[str, str]:
        """Child processes of the suite use the test database."""
        return subprocess_env()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDramatiqRedisConformance(_DramatiqSuite):
    backend_alias = "dramatiq"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDramatiqRabbitMQConformance(_DramatiqSuite):
    backend_alias = "dramatiq_amqp"
