"""Django app config: loads plugins and derives ``TASKS`` from the task settings."""

from __future__ import annotations

from typing import Any, cast

from django.apps import AppConfig
from django.conf import settings
from django.core.signals import setting_changed
from django.utils.translation import gettext_lazy as _

__all__ = ["RailTasksConfig"]

_SETTING_NAMES = {"RAIL_TASKS", "RAIL_DJANGO_GRAPHQL"}
_derived_tasks: dict[str, Any] | None = None


def _tasks_user_defined() -> bool:
    overridden = cast(Any, settings).is_overridden("TASKS")  # LazySettings proxies Settings.is_overridden
    return bool(overridden) and getattr(settings, "TASKS", None) is not _derived_tasks


def derive_tasks_setting() -> dict[str, Any]:
    """Django's ``TASKS`` built from ``RAIL_TASKS["backend"]`` (seed-style settings)."""
    from rail_tasks.backends import backend_path
    from rail_tasks.conf import raw_task_settings, task_settings

    where, _ = raw_task_settings()
    path = backend_path(str(task_settings.backend), where=f"{where}['backend']")
    return {"default": {"BACKEND": path, "QUEUES": list(task_settings.queues)}}


def install_tasks_setting() -> None:
    """Point Django's ``TASKS`` at the rail backend the task settings name, unless the project set ``TASKS``.

    An unknown backend name raises :class:`~django.core.exceptions.ImproperlyConfigured`: a shell, a web
    server or a worker must never start on Django's default ``ImmediateBackend`` (tasks run inline, untracked).
    """
    global _derived_tasks
    if _tasks_user_defined():
        return
    derived = derive_tasks_setting()
    _derived_tasks = derived
    settings.TASKS = derived
    setting_changed.send(sender=RailTasksConfig, setting="TASKS", value=derived, enter=True)


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _SETTING_NAMES:
        from rail_tasks.plugins import reload_plugins_if_changed

        reload_plugins_if_changed()  # keeps plugins registered by tests unless the plugin settings changed
        install_tasks_setting()


class RailTasksConfig(AppConfig):
    """The ``rail_tasks`` app."""

    name = "rail_tasks"
    label = "rail_tasks"
    verbose_name = _("Tasks")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from rail_tasks import checks  # noqa: F401 - registers the system checks
        from rail_tasks.plugins import get_plugin_manager

        get_plugin_manager()  # plugins load once, at start-up, in every process
        install_tasks_setting()
        setting_changed.connect(_on_setting_changed, dispatch_uid="rail_tasks_settings")
