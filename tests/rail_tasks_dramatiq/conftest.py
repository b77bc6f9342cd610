"""Real Dramatiq workers (``python -m dramatiq rail_tasks_dramatiq.worker``) against the test database."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process import WorkerCommand


class DramatiqWorker(WorkerCommand):
    """One ``python -m dramatiq rail_tasks_dramatiq.worker`` command serving one ``TASKS`` alias."""

    def __init__(
        self, alias: str, log: Path, *, processes: int = 1, threads: int = 2, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(log, env={"RAIL_TASKS_DRAMATIQ_ALIASES": alias, **(env or {})})
        self.alias = alias
        self.processes = processes
        self.threads = threads

    def command(self) -> list[str]:
        """Dramatiq's own command on the rail-tasks worker module."""
        return [
            sys.executable, "-m", "dramatiq", "rail_tasks_dramatiq.worker",
            "--processes", str(self.processes), "--threads", str(self.threads), "--worker-shutdown-timeout", "10000",
        ]  # fmt: skip

    def ready(self, output: str) -> bool:
        """Every worker process said it is ready."""
        return output.count("is ready for action") >= self.processes

    def worker_pids(self) -> list[int]:
        """Pids of the command's worker processes."""
        return self.child_pids()


class SupervisedWorker:
    """A worker command started again whenever it exits on its own, as a process manager would.

    Dramatiq stops the whole command when one of its processes dies (a task
    that kills its process); systemd or Kubernetes would start it again.
    ``kill()`` and ``stop()`` end supervision first (a machine loss, a shutdown).
    """

    def __init__(self, start: Callable[[], DramatiqWorker]) -> None:
        self._start = start
        self.current = start()
        self.restarts = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="dramatiq-supervisor", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.2):
            process = self.current.process
            if process is not None and process.poll() is not None:
                self.current = self._start()
                self.restarts += 1

    def kill(self) -> None:
        """SIGKILL every process of the command; no restart."""
        self._done.set()
        self._thread.join()
        self.current.kill()

    def stop(self) -> None:
        """Graceful shutdown; no restart."""
        self._done.set()
        self._thread.join()
        self.current.stop()


@pytest.fixture
def dramatiq_worker_factory(
    django_db_setup: None, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., DramatiqWorker]]:
    """``start(alias="dramatiq", processes=1, threads=2, env=None)``: workers for one test.

    Stopped after the test; their logs are shown when it failed.
    """
    workers: list[DramatiqWorker] = []

    def start(
        alias: str = "dramatiq", processes: int = 1, threads: int = 2, env: dict[str, str] | None = None
    ) -> DramatiqWorker:
        worker = DramatiqWorker(
            alias, tmp_path / f"worker-{len(workers)}.log", processes=processes, threads=threads, env=env
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


@pytest.fixture(scope="session", autouse=True)
def _remove_this_runs_queues() -> Iterator[None]:
    """After the session, delete this run's queues on the shared RabbitMQ and its keys in the Redis DB."""
    yield
    import pika
    import redis

    from tests.rail_tasks_dramatiq.settings_extra import AMQP_URL, REDIS_URL, run_id

    prefix = f"rt-{run_id()}"
    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(REDIS_URL)
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.delete(key)
    with contextlib.suppress(Exception):
        connection = pika.BlockingConnection(pika.URLParameters(AMQP_URL))
        channel = connection.channel()
        for queue in ("default", "orders", "rail"):
            for suffix in ("", ".DQ", ".XQ"):
                channel.queue_delete(f"{prefix}-{queue}{suffix}")
        connection.close()
