"""What a database worker does: its queues, processes, intervals and limits."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from django.db import connections, router
from django.tasks import task_backends

from rail_tasks.backend_options import options_problems
from rail_tasks.conf import raw_task_settings, task_settings

__all__ = ["WorkerOptions", "database_backend_aliases", "default_worker_id"]

DATABASE_BACKEND = "rail_tasks.backends.database.DatabaseBackend"

#: Idle poll interval on SQLite when the settings name none (no LISTEN/NOTIFY there).
SQLITE_POLL_INTERVAL = 0.1


def default_worker_id() -> str:
    """``host:pid:token``: unique per worker process, even when pids are reused."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


def database_backend_aliases() -> list[str]:
    """The ``TASKS`` aliases whose backend is the ``database`` backend (rows a worker may claim)."""
    from rail_tasks.backends.database import DatabaseBackend

    return [alias for alias in task_backends.settings if isinstance(task_backends[alias], DatabaseBackend)]


def _setting(name: str, backend_options: dict[str, Any]) -> Any:
    """A backend ``OPTIONS`` value, else the task settings' value."""
    return backend_options[name] if name in backend_options else getattr(task_settings, name)


def _explicit(name: str, backend_options: dict[str, Any]) -> bool:
    _, block = raw_task_settings()
    return name in backend_options or name in block


@dataclass(slots=True)
class WorkerOptions:
    """Everything a :class:`~rail_tasks.backends.database.Worker` needs to know; defaults come from the settings.

    ``queues`` empty means every queue. ``backends`` are the ``TASKS`` aliases
    served (every ``database`` alias by default). Times are seconds.
    """

    queues: list[str] = field(default_factory=list)
    backends: list[str] = field(default_factory=list)
    concurrency: int = 1
    worker_id: str = ""
    max_tasks: int | None = None
    max_tasks_per_child: int | None = None
    burst: bool = False
    poll_interval: float | None = None
    lease_seconds: float | None = None
    heartbeat_seconds: float | None = None
    shutdown_grace_seconds: float | None = None
    #: Claimed rows waiting for a busy child are handed back after this long.
    prefetch_hold_seconds: float = 1.0
    #: How often running executions are checked for a cancel request (without NOTIFY).
    cancel_check_seconds: float = 0.5
    using: str = ""

    def resolve(self) -> WorkerOptions:
        """Fill unset values from the backend ``OPTIONS`` and the task settings; validate."""
        from rail_tasks.models import TaskExecution

        if not self.backends:
            self.backends = database_backend_aliases()
        if not self.backends:
            configured = ", ".join(
                f"{alias} -> {params.get('BACKEND')}" for alias, params in task_backends.settings.items()
            )
            raise ValueError(
                f"No TASKS alias uses {DATABASE_BACKEND}, so this worker has nothing to run (TASKS: {configured}). "
                "Set RAIL_TASKS['backend'] = 'database', or add an alias with that BACKEND to TASKS."
            )
        options: dict[str, Any] = dict(task_backends[self.backends[0]].options)
        from rail_tasks.backends.database import DatabaseBackend

        problems = options_problems(self.backends[0], options, DatabaseBackend.option_specs)
        if problems:
            raise ValueError(problems)
        self.using = self.using or router.db_for_write(TaskExecution)
        if self.poll_interval is None:
            sqlite = connections[self.using].vendor == "sqlite"
            if sqlite and not _explicit("poll_interval", options):
                self.poll_interval = SQLITE_POLL_INTERVAL
            else:
                self.poll_interval = float(_setting("poll_interval", options))
        if self.lease_seconds is None:
            self.lease_seconds = float(_setting("lease_seconds", options))
        if self.heartbeat_seconds is None:
            self.heartbeat_seconds = float(_setting("heartbeat_seconds", options))
        if self.shutdown_grace_seconds is None:
            self.shutdown_grace_seconds = float(_setting("shutdown_grace_seconds", options))
        self.worker_id = (self.worker_id or default_worker_id())[:64]
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError("heartbeat_seconds must be shorter than lease_seconds")
        return self

    @property
    def poll(self) -> float:
        """The resolved idle poll interval."""
        assert self.poll_interval is not None, "call resolve() first"
        return self.poll_interval

    @property
    def lease(self) -> float:
        """The resolved lease length."""
        assert self.lease_seconds is not None, "call resolve() first"
        return self.lease_seconds

    @property
    def heartbeat(self) -> float:
        """The resolved heartbeat interval."""
        assert self.heartbeat_seconds is not None, "call resolve() first"
        return self.heartbeat_seconds

    @property
    def grace(self) -> float:
        """The resolved shutdown grace period."""
        assert self.shutdown_grace_seconds is not None, "call resolve() first"
        return self.shutdown_grace_seconds
