"""The engine kit's recovery suite on Dramatiq: real ``dramatiq`` commands on Redis and RabbitMQ, killed for real.

``concurrency`` is the worker's thread count (one process). Dramatiq stops the
whole command when a task kills its process, so the suite's workers run
supervised, restarted as a process manager would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from rail_tasks.testing.recovery import RecoverySuite
from tests.rail_tasks_dramatiq.conftest import DramatiqWorker, SupervisedWorker


class _DramatiqRecovery(RecoverySuite):
    @pytest.fixture
    def start_worker(self, dramatiq_worker_factory: Callable[..., DramatiqWorker]) -> Iterator[Callable[..., Any]]:
        supervised: list[SupervisedWorker] = []

        def start(concurrency: int = 2) -> SupervisedWorker:
            supervised.append(
                SupervisedWorker(lambda: dramatiq_worker_factory(self.backend_alias, threads=concurrency))
            )
            return supervised[-1]

        yield start
        for worker in supervised:
            worker.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDramatiqRedisRecovery(_DramatiqRecovery):
    backend_alias = "dramatiq"


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDramatiqRabbitMQRecovery(_DramatiqRecovery):
    backend_alias = "dramatiq_amqp"
