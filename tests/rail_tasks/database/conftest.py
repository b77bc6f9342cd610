"""Fixtures for the database backend: real worker subprocesses against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from rail_tasks.models import TaskExecution
from tests.process import start_django_command, subprocess_env

#: Short intervals so lease expiry and heartbeats happen within a test.
FAST = (
    *("--lease-seconds", "2", "--heartbeat-seconds", "0.3"),
    *("--poll-interval", "0.05", "--shutdown-grace-seconds", "10"),
)


@dataclass
class WorkerProcess:
    """A ``rail_tasks_worker`` subprocess (its own process group, output in a file)."""

    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        """The supervisor's pid."""
        return self.process.pid

    def signal(self, signum: int, *, group: bool = False) -> None:
        """Send ``signum`` to the supervisor (or its whole process group)."""
        if group:
            os.killpg(self.process.pid, signum)
        else:
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """Wait for exit; the exit status."""
        return self.process.wait(timeout)

    def text(self) -> str:
        """What the worker printed so far."""
        return self.output.read_text(errors="replace")

    def alive(self) -> bool:
        """Whether the supervisor still runs."""
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL to the group after a few seconds."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(8)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)


@pytest.fixture
def start_worker(transactional_db: None) -> Iterator[Callable[..., WorkerProcess]]:
    """``start_worker(*args)``: start a worker (fast intervals unless ``fast=False``); stopped at teardown."""
    started: list[WorkerProcess] = []
    directory = Path(tempfile.mkdtemp(prefix="rail-db-worker-"))

    def start(*args: str, fast: bool = True, env: dict[str, str] | None = None) -> WorkerProcess:
        output = directory / f"worker-{len(started)}.log"
        handle = output.open("wb")
        arguments = ["rail_tasks_worker", *(FAST if fast else ()), *args]
        process = start_django_command(
            *arguments,
            env=env or subprocess_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        worker = WorkerProcess(process, output)
        started.append(worker)
        wait_until(lambda: "rail-tasks worker" in worker.text() or not worker.alive(), timeout=20)
        assert worker.alive() or worker.process.returncode == 0, worker.text()
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()


def wait_until(condition: Callable[[], Any], *, timeout: float = 30.0, message: str = "") -> Any:
    """Poll ``condition`` until truthy (returned) or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(message or f"condition not met within {timeout:g}s")
        time.sleep(0.05)


def wait_status(execution_id: Any, *statuses: str, timeout: float = 30.0) -> TaskExecution:
    """Wait until the execution has one of ``statuses``; the row."""

    def check() -> TaskExecution | None:
        row = TaskExecution.objects.filter(pk=execution_id).first()
        return row if row is not None and row.status in statuses else None

    row = TaskExecution.objects.filter(pk=execution_id).first()
    found: TaskExecution = wait_until(
        check, timeout=timeout, message=f"{execution_id} never reached {statuses}; last: {row and row.__dict__}"
    )
    return found


def terminate_other_backends() -> int:
    """``pg_terminate_backend`` every other connection to the test database; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


postgres_only = pytest.mark.skipif(os.environ.get("RAIL_TASKS_TEST_DB") != "postgres", reason="PostgreSQL only")
