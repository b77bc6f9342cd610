"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rail_tasks.plugins import reset_plugin_manager
from rail_tasks.testing.plugins import temporary_plugins


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can show worker logs of failed tests."""
    report: pytest.TestReport = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def plugin() -> Iterator[Any]:
    """Register plugin objects for one test: ``plugin(obj, name)``; unregistered in ``finally``."""
    with temporary_plugins() as register:
        yield register


@pytest.fixture(autouse=True)
def _fresh_plugins() -> Iterator[None]:
    yield
    reset_plugin_manager()
