"""The conformance suite on the core ``thread`` backend (a pool in the test process).

Transactional tests: the pool's threads use their own connections, which see
only committed rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.tasks import task_backends

from rail_tasks.backends.thread import ThreadBackend
from rail_tasks.testing import ConformanceSuite
from tests.process import subprocess_env


@pytest.mark.django_db(transaction=True)
class TestThreadConformance(ConformanceSuite):
    backend_alias = "thread"

    @pytest.fixture
    def worker(self) -> Iterator[None]:
        yield
        backend = task_backends[self.backend_alias]
        assert isinstance(backend, ThreadBackend)
        backend.shutdown(wait=True)

    def subprocess_env(self) -> dict[str, str]:
        return subprocess_env()
