"""The core's own plugin: registers the built-in backends by short name."""

from __future__ import annotations

from collections.abc import Callable

from rail_tasks.plugins import hookimpl


@hookimpl
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Register ``sync``, ``thread`` and ``database``."""
    register("sync", "rail_tasks.backends.sync.SyncBackend")
    register("thread", "rail_tasks.backends.thread.ThreadBackend")
    register("database", "rail_tasks.backends.database.DatabaseBackend")
