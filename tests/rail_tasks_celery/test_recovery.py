"""The engine kit's recovery suite on Celery: a real prefork worker on Redis, killed for real."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rail_tasks.testing.recovery import RecoverySuite
from tests.rail_tasks_celery.conftest import CeleryWorker


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestCeleryRecovery(RecoverySuite):
    backend_alias = "celery"

    @pytest.fixture
    def start_worker(self, celery_worker_factory: Callable[..., CeleryWorker]) -> Callable[..., Any]:
        def start(concurrency: int = 2) -> CeleryWorker:
            return celery_worker_factory(concurrency=concurrency)

        return start
