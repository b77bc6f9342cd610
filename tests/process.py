"""Helpers for tests that start real subprocesses (workers) against the test database."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Self

from django.db import connection

REPO_ROOT = Path(__file__).resolve().parent.parent


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for a child process that must use the same (test) database as this one."""
    env = os.environ.copy()
    env["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH", "")]))
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "postgresql":
        env["RAIL_TASKS_TEST_DB"] = "postgres"
        env["RAIL_TASKS_TEST_PG_NAME"] = name
    else:
        env["RAIL_TASKS_TEST_DB"] = "sqlite"
        env["RAIL_TASKS_TEST_SQLITE_DB"] = name
    env.update(extra)
    return env


def start_django_command(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[bytes]:
    """Start ``django-admin <args>`` with the test settings and database."""
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        env=env or subprocess_env(),
        cwd=REPO_ROOT,
        **popen,
    )


class WorkerCommand:
    """An engine's worker command in its own process group, its output in ``log``.

    Subclasses give the command line (:meth:`command`) and say when it is ready
    (:meth:`ready`); starting, the pids of its children, SIGKILL of the whole
    group (a lost machine) and a graceful stop are the same for every engine.
    """

    #: Seconds to wait for the command to be ready.
    ready_timeout = 60.0
    #: Seconds a graceful stop may take before the group is killed.
    stop_timeout = 20.0

    def __init__(self, log: Path, *, env: dict[str, str] | None = None) -> None:
        self.log = log
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        """The command line."""
        raise NotImplementedError

    def ready(self, output: str) -> bool:
        """Whether the command's output since this start says it serves."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the command and wait until :meth:`ready`; its log is shown if it never gets there."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.command(),
                env={**subprocess_env(), **self.env},
                cwd=REPO_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.ready(self.log.read_bytes()[offset:].decode(errors="replace")):
                return self
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"{type(self).__name__} did not start:\n{self.output()}")

    @property
    def pid(self) -> int:
        """The command's pid (also its process group)."""
        assert self.process is not None
        return self.process.pid

    def child_pids(self) -> list[int]:
        """Pids of the command's direct children (pool processes)."""
        found = subprocess.run(["pgrep", "-P", str(self.pid)], capture_output=True, text=True, check=False).stdout
        return [int(pid) for pid in found.split()]

    def kill(self) -> None:
        """SIGKILL every process of the command at once."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL whatever is left."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(self.stop_timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def output(self) -> str:
        """The command's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""
