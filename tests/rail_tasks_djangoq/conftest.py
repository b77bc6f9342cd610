"""Real ``python -m django qcluster`` subprocesses against the test database and a real broker."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process import WorkerCommand
from tests.rail_tasks_djangoq.settings_extra import orm_cluster, redis_cluster


class QCluster(WorkerCommand):
    """One ``qcluster`` (main process, sentinel, pool, monitor, pusher) in its own process group."""

    def __init__(self, log: Path, *, broker: str = "orm", env: dict[str, str] | None = None) -> None:
        self.name = orm_cluster() if broker == "orm" else redis_cluster()
        super().__init__(log, env={**(env or {}), "Q_CLUSTER_NAME": self.name})

    def command(self) -> list[str]:
        """Django-Q2's own command."""
        return [sys.executable, "-m", "django", "qcluster"]

    def ready(self, output: str) -> bool:
        """The cluster says it runs."""
        return " running." in output


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
