"""System checks: bad task settings are reported by ``manage.py check`` with an id and a hint.

======================  ==========================================================
id                      problem
======================  ==========================================================
``rail_tasks.E001``     the settings block (or a backend's ``OPTIONS``) is not a dict
``rail_tasks.E002``     unknown key (of the settings block or of a backend's ``OPTIONS``)
``rail_tasks.E003``     wrong type
``rail_tasks.E004``     value not among the allowed choices, or out of range
``rail_tasks.E005``     unknown backend name
``rail_tasks.E006``     ``failure_callback`` cannot be imported or is not callable
``rail_tasks.W001``     a plugin failed to import (or to fit the hookspecs) and was skipped
``rail_tasks.W002``     both ``RAIL_TASKS`` and the seed's ``task_settings`` are set
``rail_tasks.W003``     ``backend`` is set but ``TASKS`` is defined too (``TASKS`` wins)
``rail_tasks.W004``     ``websocket_max_message_bytes`` is above daphne's default 1 MiB frame
======================  ==========================================================
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from rail_tasks.conf import SETTING_SPECS, SettingSpec, docs_url, raw_task_settings

__all__ = ["check_backend_options", "check_block", "check_plugins", "check_task_settings"]

_NON_NEGATIVE = {
    "result_ttl_seconds",
    "max_retries",
    "retry_delay",
    "retry_backoff_max",
    "progress_throttle_seconds",
    "slow_task_threshold_seconds",
}
_POSITIVE = {
    "max_workers",
    "poll_interval",
    "lease_seconds",
    "heartbeat_seconds",
    "default_timeout",
    "max_argument_bytes",
    "max_result_bytes",
    "graphql_max_depth",
    "graphql_max_aliases",
    "graphql_max_fields",
    "graphql_max_tokens",
    "graphql_max_operations",
    "graphql_max_mutations",
    "websocket_max_operations",
    "websocket_max_message_bytes",
}


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def _out_of_range(key: str, value: float) -> bool:
    return (key in _NON_NEGATIVE and value < 0) or (key in _POSITIVE and value <= 0)


def _check_value(where: str, key: str, value: Any, spec: SettingSpec | None = None) -> list[checks.CheckMessage]:
    spec = spec or SETTING_SPECS[key]
    # bool is an int in Python; a bool is accepted only where bool is a listed type.
    wrong_bool = isinstance(value, bool) and bool not in spec.types
    if wrong_bool or not isinstance(value, spec.types):
        return [
            checks.Error(
                f"{where}[{key!r}] must be {_type_names(spec.types)}, not {type(value).__name__}.",
                hint=f"{key}: {spec.help}",
                id="rail_tasks.E003",
            )
        ]
    if spec.choices and value not in spec.choices:
        return [
            checks.Error(
                f"{where}[{key!r}] is {value!r}; expected one of {', '.join(map(repr, spec.choices))}.",
                hint=spec.help,
                id="rail_tasks.E004",
            )
        ]
    if isinstance(value, int | float) and not isinstance(value, bool) and _out_of_range(key, value):
        bound = "zero or more" if key in _NON_NEGATIVE else "greater than zero"
        return [checks.Error(f"{where}[{key!r}] must be {bound}, got {value!r}.", hint=spec.help, id="rail_tasks.E004")]
    return []


def check_block(where: str, block: Any, specs: Mapping[str, SettingSpec]) -> list[checks.CheckMessage]:
    """Unknown keys (with the closest known one), types and ranges of a settings mapping such as a backend's OPTIONS."""
    if not isinstance(block, Mapping):
        return [checks.Error(f"{where} must be a dict, not {type(block).__name__}.", id="rail_tasks.E001")]
    errors: list[checks.CheckMessage] = []
    for key, value in block.items():
        if key not in specs:
            close = difflib.get_close_matches(str(key), list(specs), n=1)
            known = ", ".join(sorted(specs)) or "none"
            hint = f"Did you mean {close[0]!r}?" if close else f"Known keys: {known}."
            errors.append(checks.Error(f"{where} has an unknown key {key!r}.", hint=hint, id="rail_tasks.E002"))
            continue
        errors.extend(_check_value(where, key, value, specs[key]))
    return errors


def _check_backend(where: str, block: Mapping[str, Any]) -> list[checks.CheckMessage]:
    from rail_tasks.backends import registered_backends, unknown_backend_message

    name = block.get("backend")
    if not isinstance(name, str):
        return []
    try:
        registry = registered_backends()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), hint="Give each backend a unique name.", id="rail_tasks.E005")]
    if name in registry or "." in name:
        return []
    message, hint = unknown_backend_message(name, registry, f"{where}['backend']")
    return [checks.Error(message, hint=hint, id="rail_tasks.E005")]


#: daphne's default ``websocket_max_frame_size``: larger messages are dropped, the client waits forever.
DAPHNE_FRAME_BYTES = 1024 * 1024


def _check_message_size(where: str, block: Mapping[str, Any]) -> list[checks.CheckMessage]:
    size = block.get("websocket_max_message_bytes")
    if not isinstance(size, int) or isinstance(size, bool) or size <= DAPHNE_FRAME_BYTES:
        return []
    return [
        checks.Warning(
            f"{where}['websocket_max_message_bytes'] is {size}, above daphne's default frame size "
            f"({DAPHNE_FRAME_BYTES}): larger results would be dropped by the server and never reach the client.",
            hint="Keep it at or below 1048576, or raise daphne's --websocket_max_frame_size to match.",
            id="rail_tasks.W004",
        )
    ]


def _check_origins(where: str, block: Mapping[str, Any]) -> list[checks.CheckMessage]:
    origins = block.get("websocket_allowed_origins")
    if not isinstance(origins, list | tuple):
        return []
    return [
        checks.Error(
            f"{where}['websocket_allowed_origins'] has {origin!r}, which is not an origin.",
            hint="Write scheme and host, e.g. 'https://app.example.com' or 'https://*.example.com'.",
            id="rail_tasks.E004",
        )
        for origin in origins
        if not isinstance(origin, str) or not re.fullmatch(r"https?://[^/\s]+", origin)
    ]


def _check_callback(where: str, block: Mapping[str, Any]) -> list[checks.CheckMessage]:
    path = block.get("failure_callback")
    if block.get("on_failure") == "callback" and not path:
        return [
            checks.Error(
                f"{where}['on_failure'] is 'callback' but no failure_callback is set.",
                hint="Set failure_callback to the dotted path of a function (taskId, task_name, error, traceback).",
                id="rail_tasks.E006",
            )
        ]
    if not isinstance(path, str):
        return []
    try:
        target = import_string(path)
    except ImportError as exc:
        return [checks.Error(f"{where}['failure_callback'] {path!r} cannot be imported: {exc}", id="rail_tasks.E006")]
    if not callable(target):
        return [checks.Error(f"{where}['failure_callback'] {path!r} is not callable.", id="rail_tasks.E006")]
    return []


@checks.register(checks.Tags.compatibility)
def check_task_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Validate the task settings block against :data:`rail_tasks.conf.SETTING_SPECS`."""
    where, found = raw_task_settings()
    block: Any = found  # typed as a mapping, but a project can set anything
    if not isinstance(block, Mapping):
        return [
            checks.Error(
                f"{where} must be a dict, not {type(block).__name__}.",
                hint='For example RAIL_TASKS = {"backend": "database"}.',
                id="rail_tasks.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    if getattr(settings, "RAIL_TASKS", None) is not None:
        seed = getattr(settings, "RAIL_DJANGO_GRAPHQL", None)
        if isinstance(seed, Mapping) and "task_settings" in seed:
            errors.append(
                checks.Warning(
                    'Both RAIL_TASKS and RAIL_DJANGO_GRAPHQL["task_settings"] are set; only RAIL_TASKS is used.',
                    hint="Keep one of them.",
                    id="rail_tasks.W002",
                )
            )
    errors.extend(check_block(where, block, SETTING_SPECS))
    errors.extend(_check_backend(where, block))
    errors.extend(_check_callback(where, block))
    errors.extend(_check_origins(where, block))
    errors.extend(_check_message_size(where, block))
    from rail_tasks.apps import _tasks_user_defined

    if "backend" in block and _tasks_user_defined():
        errors.append(
            checks.Warning(
                f"{where}['backend'] is set but TASKS is defined too; Django uses TASKS.",
                hint="Remove one of them, or make them name the same backend.",
                id="rail_tasks.W003",
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_backend_options(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Validate the ``OPTIONS`` of every ``TASKS`` alias whose backend declares its options."""
    from rail_tasks.backend_options import check_tasks_options

    return check_tasks_options()


@checks.register(checks.Tags.compatibility)
def check_plugins(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Report plugins that failed to import (they were skipped)."""
    from rail_tasks.plugins import iter_plugin_infos

    try:
        infos = iter_plugin_infos()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="rail_tasks.E005")]
    messages: list[checks.CheckMessage] = []
    for info in infos:
        if not info.error:
            continue
        if info.misfit:
            problem = (
                f"does not fit the hookspecs and was skipped: {info.error.removeprefix('PluginValidationError: ')}"
            )
            hint = (
                "Fix the hook's name or arguments (hooks are named rail_tasks_<event>; "
                f"see {docs_url('hooks')}), or block it with RAIL_TASKS['blocked_plugins']."
            )
        else:
            problem = f"failed to import and was skipped: {info.error}"
            hint = "Install its dependencies, or block it with RAIL_TASKS['blocked_plugins']."
        messages.append(
            checks.Warning(
                f"rail-tasks plugin {info.name!r} ({info.module}) {problem}", hint=hint, id="rail_tasks.W001"
            )
        )
    return messages
