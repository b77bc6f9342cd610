"""Real Celery workers (prefork subprocesses) against the test database and a real broker."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.process import REPO_ROOT, subprocess_env
from tests.rail_tasks_celery.settings_extra import run_id

READY_TIMEOUT = 60.0


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can show worker logs of failed tests."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class CeleryWorker:
    """One ``celery -A tests.rail_tasks_celery.celery_app:<app> worker`` subprocess."""

    def __init__(
        self, app: str, log: Path, *, concurrency: int = 2, name: str = "w1", env: dict[str, str] | None = None
    ) -> None:
        self.app = app
        self.env = env or {}
        self.log = log
        self.concurrency = concurrency
        self.name = f"rt-{run_id()}-{name}@%h"
        self.process: subprocess.Popen[bytes] | None = None

    @staticmethod
    def queues() -> str:
        """Every queue the tests send to: the default one and the prefixed named ones."""
        prefix = f"rt-{run_id()}-"
        return ",".join([settings.CELERY_TASK_DEFAULT_QUEUE, f"{prefix}orders"])

    def start(self) -> CeleryWorker:
        """Start the worker and wait until it consumes."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        command = [
            sys.executable, "-m", "celery", "-A", f"tests.rail_tasks_celery.celery_app:{self.app}", "worker",
            "-P", "prefork", "-c", str(self.concurrency), "-Q", self.queues(), "-n", self.name,
            "--without-gossip", "--without-mingle", "-l", "INFO",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                env={**subprocess_env(), **self.env},
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            if " ready." in text:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"celery worker did not start:\n{self.output()}")

    def pool_children(self) -> list[int]:
        """Pids of the prefork pool's children."""
        assert self.process is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [int(pid) for pid in found]

    def kill(self) -> None:
        """SIGKILL the worker and every process it started."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM), then SIGKILL whatever is left."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def output(self) -> str:
        """The worker's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


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
