"""The conformance suite on the ``database`` backend, with a real ``rail_tasks_worker`` process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rail_tasks.testing import ConformanceSuite
from tests.process import start_django_command, subprocess_env

from .conftest import FAST, WorkerProcess, wait_until


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
class TestDatabaseConformance(ConformanceSuite):
    backend_alias = "database"
    ordered_delivery = True  # one worker, concurrency 1: strictly by priority, then FIFO

    @pytest.fixture
    def worker(self, tmp_path: object) -> Iterator[None]:
        import subprocess
        from pathlib import Path

        output = Path(str(tmp_path)) / "worker.log"
        with output.open("wb") as handle:
            process = start_django_command(
                "rail_tasks_worker",
                "--concurrency",
                "1",
                *FAST,
                "-v",
                "2",
                env=subprocess_env(),
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = WorkerProcess(process, output)
        wait_until(lambda: "rail-tasks worker" in worker.text() or not worker.alive(), timeout=20)
        assert worker.alive(), worker.text()
        try:
            yield
        finally:
            worker.stop()
            print(worker.text())

    def subprocess_env(self) -> dict[str, str]:
        return subprocess_env()
