"""Plugin loading: which plugins a process has, where each came from, and what failed.

Plugins are found once per process:

1. the core's own :mod:`rail_tasks.hooks` (always);
2. every entry point of the ``rail_tasks`` group, unless autoload is off
   (``RAIL_TASKS["autoload_plugins"] = False`` or the environment variable
   ``RAIL_TASKS_DISABLE_PLUGIN_AUTOLOAD=1``);
3. the dotted paths in ``RAIL_TASKS["plugins"]``.

Names in ``RAIL_TASKS["blocked_plugins"]`` or the comma-separated
``RAIL_TASKS_BLOCKED_PLUGINS`` are never loaded (the core's own plugin cannot
be blocked). A plugin whose import fails, or that implements a hook that does
not exist or asks for an argument the spec does not have, is logged and
skipped (the system check ``rail_tasks.W001`` reports it). Two different
plugins with one name are an error. How the core calls the loaded hooks lives
in :mod:`rail_tasks.hookcalls`.
"""

from __future__ import annotations

import difflib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

import pluggy
from django.core.exceptions import ImproperlyConfigured

from rail_tasks import hookspecs
from rail_tasks.conf import task_settings

if TYPE_CHECKING:
    pass

__all__ = [
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginManager",
    "get_plugin_manager",
    "hookimpl",
    "iter_plugin_infos",
    "reload_plugins_if_changed",
    "reset_plugin_manager",
]

logger = logging.getLogger("rail_tasks.plugins")

#: The entry-point group plugin packages register under.
ENTRY_POINT_GROUP = "rail_tasks"
#: Marker for hook implementations: ``@hookimpl def rail_tasks_complete(execution, result): ...``
hookimpl = pluggy.HookimplMarker("rail_tasks")

_DISABLE_AUTOLOAD_ENV = "RAIL_TASKS_DISABLE_PLUGIN_AUTOLOAD"
_BLOCKED_ENV = "RAIL_TASKS_BLOCKED_PLUGINS"


@dataclass
class PluginInfo:
    """What is known about one plugin: where it came from and what it implements."""

    name: str
    source: str  # "core", "entry point" or "setting"
    module: str = ""
    dist: str = ""
    version: str = ""
    hooks: list[str] = field(default_factory=list)
    error: str = ""  # set when the plugin failed to load
    blocked: bool = False  # set when a setting or the environment blocked it

    @property
    def loaded(self) -> bool:
        """Whether the plugin was registered."""
        return not self.error and not self.blocked

    @property
    def misfit(self) -> bool:
        """Whether the plugin imported but does not fit the hookspecs (an unknown hook, a wrong argument)."""
        return self.error.startswith("PluginValidationError")

    @property
    def status(self) -> str:
        """``loaded``, ``failed`` or ``blocked``."""
        return "failed" if self.error else "blocked" if self.blocked else "loaded"


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from."""

    def __init__(self) -> None:
        super().__init__("rail_tasks")
        self.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.settings_key: tuple[Any, ...] | None = None

    def register_plugin(self, plugin: object, info: PluginInfo) -> None:
        """Register ``plugin`` under ``info.name``.

        A name already used by another plugin is an error
        (:class:`~django.core.exceptions.ImproperlyConfigured`). A plugin that
        does not fit the hookspecs (an unknown ``rail_tasks_*`` hook, an
        argument the spec lacks, a wrapper hook) raises
        :class:`pluggy.PluginValidationError` and is left unregistered.
        """
        if self.get_plugin(info.name) is not None or (info.name in self.infos and self.infos[info.name].loaded):
            raise ImproperlyConfigured(f"Two rail-tasks plugins are named {info.name!r}; plugin names must be unique.")
        self.register(plugin, name=info.name)
        try:
            self._validate(plugin, info.name)
        except pluggy.PluginValidationError:
            self.unregister(plugin)
            raise
        info.hooks = sorted(caller.name for caller in self.get_hookcallers(plugin) or [])
        self.infos[info.name] = info

    def _validate(self, plugin: object, name: str) -> None:
        for caller in self.get_hookcallers(plugin) or []:
            for impl in caller.get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                if not caller.has_spec() and not impl.optionalhook:
                    specs = [n for n in dir(hookspecs) if n.startswith("rail_tasks_")]
                    close = difflib.get_close_matches(caller.name, specs, n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else f"; the hooks are: {', '.join(specs)}"
                    raise pluggy.PluginValidationError(plugin, f"unknown hook {caller.name!r} in plugin {name!r}{hint}")
                if impl.hookwrapper or impl.wrapper:
                    raise pluggy.PluginValidationError(
                        plugin, f"plugin {name!r} uses a wrapper hook; use rail_tasks_execution_context instead"
                    )

    def record_failure(self, info: PluginInfo) -> None:
        """Remember a plugin that could not be loaded (shown by ``rail_tasks_plugins``)."""
        self.infos[info.name] = info


def _load_plugin(pm: PluginManager, info: PluginInfo, load: Callable[[], object]) -> None:
    """Import one plugin and register it; failures are logged, recorded and skipped."""
    try:
        plugin = load()
    except Exception as exc:  # an uninstallable extra must not break the project
        info.error = f"{type(exc).__name__}: {exc}"
        logger.error(
            "rail-tasks plugin %r (%s) failed to import and was skipped: %s", info.name, info.module, info.error
        )
        pm.record_failure(info)
        return
    if pm.is_registered(plugin):
        return  # the same module reached twice (an entry point also named in settings)
    try:
        pm.register_plugin(plugin, info)
    except pluggy.PluginValidationError as exc:
        info.error = f"PluginValidationError: {exc}"
        logger.error(
            "rail-tasks plugin %r (%s) does not fit the hookspecs and was skipped: %s", info.name, info.module, exc
        )
        pm.record_failure(info)


def _blocked_names() -> set[str]:
    names = {str(n) for n in task_settings.blocked_plugins}
    names.update(n.strip() for n in os.environ.get(_BLOCKED_ENV, "").split(",") if n.strip())
    return names


def _autoload_enabled() -> bool:
    if os.environ.get(_DISABLE_AUTOLOAD_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return False
    return bool(task_settings.autoload_plugins)


def _load_entry_points(pm: PluginManager, blocked: set[str]) -> None:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist else ""
        version = ep.dist.version if ep.dist else ""
        info = PluginInfo(name=ep.name, source="entry point", module=ep.value, dist=dist, version=version)
        if ep.name in blocked:
            info.blocked = True
            pm.record_failure(info)
            continue
        _load_plugin(pm, info, ep.load)


def _distribution_of(module: str) -> tuple[str, str]:
    """``(dist name, version)`` of the installed distribution providing ``module``, or empty strings."""
    top = module.partition(".")[0]
    # Editable installs often lack the file listing packages_distributions() reads: guess the usual name too.
    names = [*metadata.packages_distributions().get(top, []), top.replace("_", "-")]
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "", ""


def _load_setting_plugins(pm: PluginManager, blocked: set[str]) -> None:
    for path in task_settings.plugins:
        dist, version = _distribution_of(path)
        info = PluginInfo(name=path, source="setting", module=path, dist=dist, version=version)
        if path in blocked:
            info.blocked = True
            pm.record_failure(info)
            continue
        _load_plugin(pm, info, partial(import_module, path))


def _build_plugin_manager() -> PluginManager:
    from rail_tasks import hooks as core_hooks
    from rail_tasks.__about__ import __version__

    pm = PluginManager()
    pm.register_plugin(
        core_hooks,
        PluginInfo(name="core", source="core", module="rail_tasks.hooks", dist="rail-tasks", version=__version__),
    )
    blocked = _blocked_names()
    if "core" in blocked:
        logger.warning("The rail-tasks core plugin cannot be blocked; 'core' in the blocked plugins is ignored")
        blocked.discard("core")
    for name in blocked:
        pm.set_blocked(name)
    pm.settings_key = _plugin_settings_key()
    if _autoload_enabled():
        _load_entry_points(pm, blocked)
    _load_setting_plugins(pm, blocked)
    return pm


_lock = threading.Lock()
_manager: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process's plugin manager, loading plugins on first use."""
    global _manager
    if _manager is None:
        with _lock:
            if _manager is None:
                _manager = _build_plugin_manager()
    return _manager


def reset_plugin_manager() -> None:
    """Forget loaded plugins; the next hook call loads them again (tests, setting changes)."""
    global _manager
    with _lock:
        _manager = None


def _plugin_settings_key() -> tuple[Any, ...]:
    """What plugin loading depends on: the three plugin settings and the two environment variables."""
    return (
        tuple(map(str, task_settings.plugins)),
        tuple(map(str, task_settings.blocked_plugins)),
        bool(task_settings.autoload_plugins),
        os.environ.get(_BLOCKED_ENV, ""),
        os.environ.get(_DISABLE_AUTOLOAD_ENV, ""),
    )


def reload_plugins_if_changed() -> bool:
    """Reset the manager when the plugin settings changed since it loaded; returns whether it did.

    Called on Django's ``setting_changed``, so ``override_settings`` of an
    unrelated key keeps the plugins a test registered.
    """
    manager = _manager
    if manager is None:
        return False
    try:
        key = _plugin_settings_key()
    except (TypeError, AttributeError):  # a malformed block; the system checks report it
        key = None
    if key == manager.settings_key:
        return False
    reset_plugin_manager()
    return True


def iter_plugin_infos() -> list[PluginInfo]:
    """Every plugin seen, loaded or failed, in load order."""
    return list(get_plugin_manager().infos.values())
