"""The conformance suite on the core ``sync`` backend (inline; the worker is the test process)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rail_tasks.testing import ConformanceSuite
from tests.process import subprocess_env


@pytest.mark.django_db(transaction=True)
class TestSyncConformance(ConformanceSuite):
    backend_alias = "default"
    duplicate_grace_seconds = 0.1  # nothing is in flight: every delivery ran inline

    @pytest.fixture
    def worker(self) -> Iterator[None]:
        yield  # noqa: PT022 - inline: nothing to start or stop

    def subprocess_env(self) -> dict[str, str]:
        return subprocess_env()
