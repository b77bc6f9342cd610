"""Real Dramatiq workers (``python -m dramatiq rail_tasks_dramatiq.worker``) against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.process import REPO_ROOT, subprocess_env

READY_TIMEOUT = 60.0


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can show worker logs of failed tests."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report


class DramatiqWorker:
    """One ``python -m dramatiq rail_tasks_dramatiq.worker`` command serving one ``TASKS`` alias."""

    def __init__(
        self, alias: str, log: Path, *, processes: int = 1, threads: int = 2, env: dict[str, str] | None = None
    ) -> None:
        self.alias = alias
        self.log = log
        self.processes = processes
        self.threads = threads
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> DramatiqWorker:
        """Start the command and wait until every worker process is ready."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        command = [
            sys.executable, "-m", "dramatiq", "rail_tasks_dramatiq.worker",
            "--processes", str(self.processes), "--threads", str(self.threads), "--worker-shutdown-timeout", "10000",
        ]  # fmt: skip
        env = {**subprocess_env(), "RAIL_TASKS_DRAMATIQ_ALIASES": self.alias, **self.env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command, env=env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            if text.count("is ready for action") >= self.processes:
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dramatiq worker did not start:\n{self.output()}")

    def worker_pids(self) -> list[int]:
        """Pids of the command's worker processes."""
        assert self.process is not None
        found = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [int(pid) for pid in found]

    def kill(self) -> None:
        """SIGKILL the command and every process it started."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Graceful shutdown (SIGTERM), then SIGKILL whatever is left."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def output(self) -> str:
        """The command's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""


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
