"""rail-tasks backends, and the short names users select them by.

``RAIL_TASKS = {"backend": "celery"}`` resolves ``celery`` through the
``rail_tasks_register_backends`` hook to the class a plugin registered; Django's
own ``TASKS = {"default": {"BACKEND": "rail_tasks_celery.CeleryBackend"}}``
works as well.
"""

from __future__ import annotations

import difflib

from django.core.exceptions import ImproperlyConfigured

from rail_tasks.backends.base import RailBackend
from rail_tasks.hookcalls import hooks

__all__ = ["RailBackend", "backend_path", "registered_backends", "unknown_backend_message"]

#: Backend names provided by a plugin package that installs as an extra of ``rail-tasks``.
INSTALLABLE_BACKENDS = {"celery": "celery"}


def registered_backends() -> dict[str, str]:
    """Every backend short name known to the loaded plugins, with its class path."""
    return hooks.register_backends()


def unknown_backend_message(
    name: str, registry: dict[str, str], where: str = "RAIL_TASKS['backend']"
) -> tuple[str, str]:
    """``(message, hint)`` for a backend name no loaded plugin registers: the typo, the closest name, the fix.

    The same text is the ``ImproperlyConfigured`` raised at start-up and the system check ``rail_tasks.E005``.
    """
    message = f"Unknown rail-tasks backend {name!r} in {where}."
    known = f"Known backends: {', '.join(sorted(registry))}."
    extra = INSTALLABLE_BACKENDS.get(name)
    if extra:
        return message, f"Its plugin is not installed: pip install 'rail-tasks[{extra}]'. {known}"
    close = difflib.get_close_matches(name, sorted({*registry, *INSTALLABLE_BACKENDS}), n=1, cutoff=0.6)
    if close:
        install = "" if close[0] in registry else f" (pip install 'rail-tasks[{INSTALLABLE_BACKENDS[close[0]]}]')"
        return message, f"Did you mean {close[0]!r}{install}? {known}"
    return message, f"No installed plugin provides it. {known}"


def backend_path(name_or_path: str, where: str = "RAIL_TASKS['backend']") -> str:
    """The class path for a short name (``"thread"``) or a dotted path given as is.

    An unknown short name raises :class:`~django.core.exceptions.ImproperlyConfigured` naming it, the
    closest known name and every known one: a process never starts on a backend it cannot find.
    """
    registry = registered_backends()
    if name_or_path in registry:
        return registry[name_or_path]
    if "." in name_or_path:
        return name_or_path
    message, hint = unknown_backend_message(name_or_path, registry, where)
    raise ImproperlyConfigured(f"{message} {hint}")
