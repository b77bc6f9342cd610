"""rail-tasks plugin hooks of rail-tasks-dramatiq (entry point ``dramatiq`` in the ``rail_tasks`` group)."""

from __future__ import annotations

from collections.abc import Callable

from rail_tasks import hookimpl


@hookimpl
def rail_tasks_register_backends(register: Callable[[str, str], None]) -> None:
    """Register the ``dramatiq`` backend short name."""
    register("dramatiq", "rail_tasks_dramatiq.DramatiqBackend")
