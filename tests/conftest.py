"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rail_tasks.plugins import get_plugin_manager, reset_plugin_manager


@pytest.fixture
def plugin() -> Iterator[Any]:
    """Register plugin objects for one test: ``plugin(obj, name)``; unregistered in ``finally``."""
    registered: list[str] = []

    def register(obj: object, name: str) -> object:
        from rail_tasks.plugins import PluginInfo

        get_plugin_manager().register_plugin(obj, PluginInfo(name=name, source="test"))
        registered.append(name)
        return obj

    try:
        yield register
    finally:
        pm = get_plugin_manager()
        for name in registered:
            found = pm.get_plugin(name)
            if found is not None:
                pm.unregister(found, name=name)
            pm.infos.pop(name, None)


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    yield
    reset_plugin_manager()
