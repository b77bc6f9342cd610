"""The core's conformance suite on Celery: Redis and RabbitMQ brokers, a real prefork worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from rail_tasks.testing import ConformanceSuite
from tests.process import subprocess_env
from tests.rail_tasks_celery.conftest import CeleryWorker


class _CelerySuite(ConformanceSuite):
    celery_app = "app"
    wait_timeout = 30.0

    @pytest.fixture(scope="class")
    @classmethod
    def worker(cls, django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
        """One worker for the whole class (startup takes a few seconds)."""
        log = Path(tmp_path_factory.mktemp("celery-worker")) / "worker.log"
        process = CeleryWorker(cls.celery_app, log, concurrency=2, name=f"conf-{cls.celery_app}").start()
        try:
            yield
        finally:
            process.stop()

    def subprocess_env(self) -> dict[str, str]:
        """Child processes of the suite use the test database."""
        return subprocess_env()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestCeleryRedisConformance(_CelerySuite):
    backend_alias = "celery"
    celery_app = "app"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestCeleryRabbitMQConformance(_CelerySuite):
    backend_alias = "celery_amqp"
    celery_app = "amqp_app"
