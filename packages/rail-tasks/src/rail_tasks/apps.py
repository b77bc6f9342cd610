"""Django app config: loads plugins and derives ``TASKS`` from the task settings."""

from __future__ import annotations

import logging
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


class CancelIsNotAnError(logging.Filter):
    """On Django's ``django.tasks`` logger: a cancelled execution's "finished" record is INFO, without traceback.

    Django has no "cancelled" state, so a cancel reaches ``task_finished`` as ``FAILED``, and Django's
    receiver logs that at ERROR with the exception in hand (``TaskCancelled``). A user's cancel is not
    an error: the record keeps its message, marked ``(cancelled)``.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Downgrade the record when its exception is :class:`~rail_tasks.TaskCancelled`; keep every record."""
        from rail_tasks.exceptions import TaskCancelled

        if record.exc_info and isinstance(record.exc_info[1], TaskCancelled):
            record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg} (cancelled)"
        return True


_cancel_filter = CancelIsNotAnError()


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

        logging.getLogger("django.tasks").addFilter(_cancel_filter)  # the same filter object: added once
        get_plugin_manager()  # plugins load once, at start-up, in every process
        install_tasks_setting()
        setting_changed.connect(_on_setting_changed, dispatch_uid="rail_tasks_settings")
