"""The ``OPTIONS`` each backend accepts in Django's ``TASKS``, checked like the task settings.

``TASKS = {"default": {"BACKEND": "...DatabaseBackend", "OPTIONS": {"lease_seconds": 30}}}``:
an unknown key (``"lease_secs"``) is the system check error ``rail_tasks.E002`` with the closest
known key; a value of the wrong type or out of range is ``rail_tasks.E003`` / ``rail_tasks.E004``,
naming the option. Every backend class declares its options once, in
:attr:`RailBackend.option_specs <rail_tasks.RailBackend.option_specs>` (name to
:class:`~rail_tasks.conf.SettingSpec`); the engine kit's ``BrokerBackend`` declares the kit's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from rail_tasks.conf import SETTING_SPECS, SettingSpec

__all__ = ["OptionSpec", "check_options", "check_tasks_options", "options_problems", "setting_option"]

#: One accepted option: ``OptionSpec(name, types, default, help)`` (the same shape as a task setting's spec).
OptionSpec = SettingSpec


def setting_option(name: str) -> OptionSpec:
    """The spec of the task setting ``name``, for a backend option that overrides that setting per alias."""
    return SETTING_SPECS[name]


def check_options(where: str, options: Any, specs: Mapping[str, SettingSpec]) -> list[checks.CheckMessage]:
    """System check messages for one backend's ``OPTIONS``; ``where`` names them (``TASKS['default']['OPTIONS']``)."""
    from rail_tasks.checks import check_block

    return check_block(where, options, specs)


def _specs_for(backend_path: str) -> Mapping[str, SettingSpec] | None:
    try:
        cls = import_string(backend_path)
    except ImportError:
        return None  # Django's own checks report a backend that does not import
    specs = getattr(cls, "option_specs", None)
    return specs if isinstance(specs, Mapping) else None


def check_tasks_options(tasks: Any = None) -> list[checks.CheckMessage]:
    """Check the ``OPTIONS`` of every ``TASKS`` alias whose backend declares its options."""
    tasks = getattr(settings, "TASKS", {}) if tasks is None else tasks
    messages: list[checks.CheckMessage] = []
    if not isinstance(tasks, Mapping):
        return messages
    for alias, params in tasks.items():
        if not isinstance(params, Mapping):
            continue
        specs = _specs_for(str(params.get("BACKEND", "")))
        if specs is not None:
            messages.extend(check_options(f"TASKS[{alias!r}]['OPTIONS']", params.get("OPTIONS", {}), specs))
    return messages


def options_problems(alias: str, options: Any, specs: Mapping[str, SettingSpec]) -> str:
    """The errors of :func:`check_options` as one line (empty when none), for processes that run no checks."""
    found = check_options(f"TASKS[{alias!r}]['OPTIONS']", options, specs)
    return " ".join(f"{m.msg} {m.hint or ''}".strip() for m in found if m.level >= checks.ERROR)
