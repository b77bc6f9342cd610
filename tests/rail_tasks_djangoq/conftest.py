"""Real ``python -m django qcluster`` subprocesses against the test database and a real broker."""

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

from tests.process import REPO_ROOT, subprocess_env
from tests.rail_tasks_djangoq.settings_extra import orm_cluster, redis_cluster

READY_TIMEOUT = 60.0


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can show cluster logs of failed tests."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class QCluster:
    """One ``qcluster`` (main process, sentinel, pool, monitor, pusher) in its own process group."""

    def __init__(self, log: Path, *, broker: str = "orm", env: dict[str, str] | None = None) -> None:
        self.log = log
        self.name = orm_cluster() if broker == "orm" else redis_cluster()
        self.env = {**(env or {}), "Q_CLUSTER_NAME": self.name}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> QCluster:
        """Start the cluster and wait until it runs."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django", "qcluster"],
                env={**subprocess_env(), **self.env},
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if " running." in self.log.read_bytes()[offset:].decode(errors="replace"):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"qcluster did not start:\n{self.output()}")

    @property
    def pid(self) -> int:
        """The main process's pid (also its process group and session)."""
        assert self.process is not None
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL every process of the cluster."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Django-Q2's graceful stop (SIGTERM to the main process), then SIGKILL whatever is left."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def output(self) -> str:
        """The cluster's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def qcluster_factory(
    django_db_setup: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., QCluster]]:
    """``start(broker="orm", env=None)``: start clusters for one test; stopped after it, logs shown on failure."""
    clusters: list[QCluster] = []

    def start(broker: str = "orm", env: dict[str, str] | None = None) -> QCluster:
        cluster = QCluster(tmp_path / f"qcluster-{len(clusters)}.log", broker=broker, env=env)
        clusters.append(cluster)
        return cluster.start()

    yield start
    for cluster in clusters:
        cluster.stop()
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for cluster in clusters:
            sys.stderr.write(f"\n--- {cluster.log.name} ---\n{cluster.output()[-8000:]}\n")
