"""rail-tasks settings: one typed view over ``RAIL_TASKS`` and the seeds' form.

Two spellings are accepted, the second exactly as the original seeds wrote it::

    RAIL_TASKS = {"backend": "database", "max_retries": 3}

    RAIL_DJANGO_GRAPHQL = {"task_settings": {"backend": "thread", "max_retries": 3}}

``RAIL_TASKS`` wins when both are present. Values are read on every access, so
``override_settings`` works in tests. Bad values are reported by the system
checks in :mod:`rail_tasks.checks`, never silently replaced.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings as django_settings

__all__ = ["DOCS_URL", "SETTING_SPECS", "SettingSpec", "TaskSettings", "docs_url", "raw_task_settings", "task_settings"]


#: Where the documentation is published (each ``docs/<page>.md`` at ``<DOCS_URL><page>/``). Messages for users
#: link here rather than to ``docs/`` paths, which are not in the installed packages.
DOCS_URL = "https://rail-tasks.readthedocs.io/en/latest/"


def docs_url(page: str, anchor: str = "") -> str:
    """The published URL of ``docs/<page>.md`` (and ``#anchor``)."""
    return f"{DOCS_URL}{page}/" + (f"#{anchor}" if anchor else "")


@dataclass(frozen=True, slots=True)
class SettingSpec:
    """One accepted key of the task settings block: its type, default and meaning."""

    name: str
    types: tuple[type, ...]
    default: Any
    help: str
    choices: tuple[Any, ...] = ()


_NUMBER = (int, float)

#: Every key the settings block accepts. The docs' settings reference is
#: checked against this table by the test suite.
SETTING_SPECS: dict[str, SettingSpec] = {
    spec.name: spec
    for spec in (
        SettingSpec("enabled", (bool,), True, "Switch rail-tasks on or off; when off, enqueue raises."),
        SettingSpec(
            "backend",
            (str,),
            "database",
            "Engine name (sync, thread, database, or one a plugin registers, such as celery).",
        ),
        SettingSpec("default_queue", (str,), "default", "Queue used when a task names none."),
        SettingSpec("queues", (list, tuple), [], "Allowed queue names; empty allows any."),
        SettingSpec("result_ttl_seconds", (int,), 86400, "How long finished executions are kept."),
        SettingSpec("max_retries", (int,), 3, "Retries after the first attempt, unless the task sets its own."),
        SettingSpec("retry_delay", _NUMBER, 60, "Seconds before a retry (the base of the backoff)."),
        SettingSpec("retry_backoff", (bool,), True, "Exponential backoff with jitter between retries."),
        SettingSpec("retry_backoff_max", _NUMBER, 3600, "Upper bound in seconds of one backoff delay."),
        SettingSpec("track_in_database", (bool,), True, "Keep finished executions; when off they are deleted at once."),
        SettingSpec("emit_subscriptions", (bool,), True, "Send change events to subscription listeners."),
        SettingSpec("subscription_channel", (str,), "tasks", "Channel-layer group prefix for subscription events."),
        SettingSpec("graphql_max_depth", (int,), 12, "GraphQL: deepest selection nesting of a document."),
        SettingSpec("graphql_max_aliases", (int,), 30, "GraphQL: aliased fields in one document."),
        SettingSpec(
            "graphql_max_fields",
            (int,),
            500,
            "GraphQL: fields one operation selects, fragments counted each time used.",
        ),
        SettingSpec(
            "graphql_max_tokens", (int,), 5000, "GraphQL: lexical tokens of one document (checked while parsing)."
        ),
        SettingSpec("graphql_max_operations", (int,), 10, "GraphQL: operations defined in one document."),
        SettingSpec("graphql_max_mutations", (int,), 10, "GraphQL: root mutation fields in one operation."),
        SettingSpec(
            "websocket_max_operations", (int,), 100, "GraphQL websocket: operations running at once on one connection."
        ),
        SettingSpec(
            "websocket_max_message_bytes",
            (int,),
            1_000_000,
            "GraphQL websocket: largest message sent; a larger result is answered with an error.",
        ),
        SettingSpec(
            "websocket_check_origin",
            (bool,),
            True,
            "GraphQL websocket: refuse browsers whose Origin is neither this site nor a trusted origin.",
        ),
        SettingSpec(
            "websocket_allowed_origins",
            (list, tuple),
            [],
            "GraphQL websocket: origins accepted besides same-origin and CSRF_TRUSTED_ORIGINS.",
        ),
        SettingSpec("max_workers", (int,), 4, "Thread pool size of the thread backend."),
        SettingSpec(
            "on_failure", (str,), "log", "What to do after the last retry fails.", ("log", "callback", "ignore")
        ),
        SettingSpec("failure_callback", (str, type(None)), None, "Dotted path called after the last retry fails."),
        SettingSpec("metrics_enabled", (bool,), False, "Let metrics plugins (rail-tasks-otel) record metrics."),
        SettingSpec("log_task_start", (bool,), False, "Log an INFO record when a task starts."),
        SettingSpec("log_task_complete", (bool,), False, "Log an INFO record when a task finishes."),
        SettingSpec(
            "slow_task_threshold_seconds", (*_NUMBER, type(None)), None, "Log a WARNING when a task runs longer."
        ),
        SettingSpec("progress_throttle_seconds", _NUMBER, 0.2, "Minimum seconds between two progress writes."),
        SettingSpec("default_timeout", (*_NUMBER, type(None)), None, "Timeout in seconds for tasks that set none."),
        SettingSpec(
            "task_modules",
            (list, tuple),
            [],
            "Modules outside installed apps whose tasks may run, e.g. the project package's 'mysite.tasks'.",
        ),
        SettingSpec("plugins", (list, tuple), [], "Extra plugin modules to register, as dotted paths."),
        SettingSpec("blocked_plugins", (list, tuple), [], "Plugin names (entry-point names) never to load."),
        SettingSpec("autoload_plugins", (bool,), True, "Load plugins from the rail_tasks entry-point group."),
        SettingSpec(
            "expose_error_messages",
            (bool,),
            False,
            "Show owners the raw error messages of their tasks (otherwise the exception class only).",
        ),
        SettingSpec(
            "max_argument_bytes",
            (int, type(None)),
            1_048_576,
            "Largest JSON size in bytes of a task's arguments; a larger enqueue raises. None: no limit.",
        ),
        SettingSpec(
            "max_result_bytes",
            (int, type(None)),
            1_048_576,
            "Largest JSON size in bytes of a task's result; a larger one fails the execution. None: no limit.",
        ),
        SettingSpec("celery_app", (str, type(None)), None, "Dotted path of the Celery app (rail-tasks-celery)."),
        SettingSpec("poll_interval", _NUMBER, 1.0, "Database worker: seconds between polls when idle."),
        SettingSpec("lease_seconds", _NUMBER, 60, "Database worker: lease length of a running execution."),
        SettingSpec("heartbeat_seconds", _NUMBER, 10, "Database worker: how often a lease is renewed."),
        SettingSpec("shutdown_grace_seconds", _NUMBER, 30, "Database worker: time running tasks get on SIGTERM."),
    )
}


def raw_task_settings() -> tuple[str, Mapping[str, Any]]:
    """Return ``(setting name, mapping)`` of the block in use, unvalidated.

    ``RAIL_TASKS`` is read first, then ``RAIL_DJANGO_GRAPHQL["task_settings"]``.
    An absent block reads as an empty mapping named ``RAIL_TASKS``.
    """
    block = getattr(django_settings, "RAIL_TASKS", None)
    if block is not None:
        return "RAIL_TASKS", block
    seed = getattr(django_settings, "RAIL_DJANGO_GRAPHQL", None)
    if isinstance(seed, Mapping) and "task_settings" in seed:
        return 'RAIL_DJANGO_GRAPHQL["task_settings"]', seed["task_settings"]
    return "RAIL_TASKS", {}


class TaskSettings:
    """Attribute access to the task settings with defaults applied.

    ``task_settings.max_retries`` reads the current Django settings each time.
    Unknown keys raise :class:`AttributeError`.
    """

    def __getattr__(self, name: str) -> Any:
        try:
            spec = SETTING_SPECS[name]
        except KeyError:
            raise AttributeError(f"rail-tasks has no setting {name!r}") from None
        _, block = raw_task_settings()
        if isinstance(block, Mapping) and name in block:
            return block[name]
        return spec.default

    def as_dict(self) -> dict[str, Any]:
        """Every setting with its effective value."""
        return {name: getattr(self, name) for name in SETTING_SPECS}


#: The process-wide settings view.
task_settings = TaskSettings()
