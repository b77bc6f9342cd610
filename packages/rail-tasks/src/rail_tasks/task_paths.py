"""Which task paths a worker may import: modules of installed apps, and the ``task_modules`` setting.

A worker imports only these, so a forged row cannot make it import arbitrary code; enqueue refuses
any other path at once, with the fix, instead of leaving the refusal to the worker.
"""

from __future__ import annotations

from django.apps import apps
from django.tasks.exceptions import InvalidTask

from rail_tasks.conf import task_settings

__all__ = ["check_task_path", "task_path_allowed"]


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def task_path_allowed(path: str) -> bool:
    """Whether ``path`` (``module.function``) names a module of an installed app or of ``task_modules``."""
    module = path.rpartition(".")[0]
    if any(_inside(module, app.name) for app in apps.get_app_configs()):
        return True
    return any(_inside(module, str(extra)) for extra in task_settings.task_modules)


def check_task_path(path: str) -> None:
    """Raise :class:`~django.tasks.exceptions.InvalidTask` naming the fix when workers would refuse ``path``."""
    if task_path_allowed(path):
        return
    module = path.rpartition(".")[0]
    raise InvalidTask(
        f"Task {path!r} cannot be enqueued: its module {module!r} is not part of an installed app, so workers "
        f"refuse to import it. Move it into an app listed in INSTALLED_APPS (for example a tasks.py next to "
        f"your models), or allow the module: RAIL_TASKS['task_modules'] = [{module!r}]."
    )
