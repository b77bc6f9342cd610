"""rail-tasks backends, and the short names users select them by.

``RAIL_TASKS = {"backend": "celery"}`` resolves ``celery`` through the
``rail_tasks_register_backends`` hook to the class a plugin registered; Django's
own ``TASKS = {"default": {"BACKEND": "rail_tasks_celery.CeleryBackend"}}``
works as well.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from rail_tasks.backends.base import RailBackend
from rail_tasks.plugins import hooks

__all__ = ["RailBackend", "backend_path", "registered_backends"]


def registered_backends() -> dict[str, str]:
    """Every backend short name known to the loaded plugins, with its class path."""
    return hooks.register_backends()


def backend_path(name_or_path: str) -> str:
    """The class path for a short name (``"thread"``) or a dotted path given as is."""
    registry = registered_backends()
    if name_or_path in registry:
        return registry[name_or_path]
    if "." in name_or_path:
        return name_or_path
    known = ", ".join(sorted(registry))
    raise ImproperlyConfigured(f"Unknown rail-tasks backend {name_or_path!r}; known backends: {known}.")
