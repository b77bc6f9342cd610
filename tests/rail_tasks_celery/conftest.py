"""Real Celery workers (prefork subprocesses) against the test database and a real broker."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.process import WorkerCommand
from tests.rail_tasks_celery.settings_extra import run_id


class CeleryWorker(WorkerCommand):
    """One ``celery -A tests.rail_tasks_celery.celery_app:<app> worker`` subprocess."""

    stop_timeout = 15.0

    def __init__(
        self, app: str, log: Path, *, concurrency: int = 2, name: str = "w1", env: dict[str, str] | None = None
    ) -> None:
        super().__init__(log, env=env)
        self.app = app
        self.concurrency = concurrency
        self.name = f"rt-{run_id()}-{name}@%h"

    @staticmethod
    def queues() -> str:
        """Every queue the tests send to: the default one and the prefixed named ones."""
        prefix = f"rt-{run_id()}-"
        return ",".join([settings.CELERY_TASK_DEFAULT_QUEUE, f"{prefix}orders"])

    def command(self) -> list[str]:
        """The prefork worker on this app's test queues."""
        return [
            sys.executable, "-m", "celery", "-A", f"tests.rail_tasks_celery.celery_app:{self.app}", "worker",
            "-P", "prefork", "-c", str(self.concurrency), "-Q", self.queues(), "-n", self.name,
            "--without-gossip", "--without-mingle", "-l", "INFO",
        ]  # fmt: skip

    def ready(self, output: str) -> bool:
        """Celery prints `` ready.`` once it consumes."""
        return " ready." in output

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool's children."""
        return self.child_pids()


@pytest.fixture
def celery_worker_factory(
    django_db_setup: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., CeleryWorker]]:
    """``start(app="app", concurrency=2, env=None)``: start workers for one test.

    Stopped after the test; their logs are shown when it failed.
    """
    workers: list[CeleryWorker] = []

    def start(
        app: str = "app", concurrency: int = 2, name: str | None = None, env: dict[str, str] | None = None
    ) -> CeleryWorker:
        worker = CeleryWorker(
            app,
            tmp_path / f"worker-{len(workers)}.log",
            concurrency=concurrency,
            name=name or f"w{len(workers)}",
            env=env,
        )
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for worker in workers:
            sys.stderr.write(f"\n--- {worker.log.name} ---\n{worker.output()[-6000:]}\n")
