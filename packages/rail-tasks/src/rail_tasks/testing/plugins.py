"""Register plugin objects for the length of one test, for plugin authors.

In a test, as a context manager::

    from rail_tasks.testing import registered_plugin

    class Seen:
        @rail_tasks.hookimpl
        def rail_tasks_complete(self, execution, result):
            ...

    with registered_plugin(Seen(), "seen"):
        my_task.enqueue()

or as a pytest fixture that registers any number of them::

    @pytest.fixture
    def plugin():
        with temporary_plugins() as register:
            yield register

Plugins are unregistered in ``finally``, whatever the test did.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from rail_tasks.plugins import PluginInfo, get_plugin_manager

__all__ = ["registered_plugin", "temporary_plugins"]

P = TypeVar("P")


def _unregister(name: str) -> None:
    pm = get_plugin_manager()
    found = pm.get_plugin(name)
    if found is not None:
        pm.unregister(found, name=name)
    pm.infos.pop(name, None)


@contextmanager
def temporary_plugins() -> Iterator[Callable[[P, str], P]]:
    """Yield ``register(obj, name) -> obj``; every plugin registered through it is removed on exit.

    Names must be unique among loaded plugins (as for any plugin); the plugin
    appears in the plugin list with source ``test``.
    """
    registered: list[str] = []

    def register(obj: P, name: str) -> P:
        get_plugin_manager().register_plugin(obj, PluginInfo(name=name, source="test"))
        registered.append(name)
        return obj

    try:
        yield register
    finally:
        for name in reversed(registered):
            _unregister(name)


@contextmanager
def registered_plugin[P](obj: P, name: str | None = None) -> Iterator[P]:
    """Register one plugin object (named ``name``, or after its class) for the block."""
    with temporary_plugins() as register:
        yield register(obj, name or f"test:{getattr(obj, '__name__', type(obj).__qualname__)}")
