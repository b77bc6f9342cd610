"""The recovery suite on the ``database`` backend: real ``rail_tasks_worker`` processes, killed for real."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

import pytest

from rail_tasks.testing.recovery import RecoverySuite

from .conftest import WorkerProcess


class _Handle:
    def __init__(self, worker: WorkerProcess) -> None:
        self.worker = worker

    def kill(self) -> None:
        """SIGKILL the supervisor and its children at once (a machine loss)."""
        self.worker.signal(signal.SIGKILL, group=True)
        self.worker.wait(10)

    def stop(self) -> None:
        self.worker.stop()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDatabaseRecovery(RecoverySuite):
    backend_alias = "database"

    @pytest.fixture
    def start_worker(self, start_worker: Callable[..., WorkerProcess]) -> Callable[..., Any]:
        def start(concurrency: int = 2) -> _Handle:
            return _Handle(start_worker("--concurrency", str(concurrency)))

        return start
