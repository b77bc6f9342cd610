"""Test helpers for rail-tasks backends and plugins (install ``rail-tasks[testing]``).

* :class:`ConformanceSuite`: the behaviour every backend must show, as pytest
  tests a backend package subclasses (see ``docs/testing-backends.md``);
* :func:`wait_for_status` / :func:`wait_until`: poll for an outcome;
* :mod:`rail_tasks.testing.recorder`: a plugin recording every hook and signal
  from any process to a JSON-lines file; :func:`read_events` reads it;
* :func:`registered_plugin` / :func:`temporary_plugins`: register plugin
  objects for one test and unregister them in ``finally``.

Names are imported lazily, so worker processes that load the recorder plugin
never import pytest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rail_tasks.testing.conformance import ConformanceSuite
    from rail_tasks.testing.plugins import registered_plugin, temporary_plugins
    from rail_tasks.testing.recorder import EVENTS_ENV, read_events, record_event
    from rail_tasks.testing.waiting import wait_for_status, wait_until

__all__ = [
    "EVENTS_ENV",
    "ConformanceSuite",
    "read_events",
    "record_event",
    "registered_plugin",
    "temporary_plugins",
    "wait_for_status",
    "wait_until",
]

_HOMES = {
    "ConformanceSuite": "conformance",
    "EVENTS_ENV": "recorder",
    "read_events": "recorder",
    "record_event": "recorder",
    "registered_plugin": "plugins",
    "temporary_plugins": "plugins",
    "wait_for_status": "waiting",
    "wait_until": "waiting",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"rail_tasks.testing.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'rail_tasks.testing' has no attribute {name!r}")
