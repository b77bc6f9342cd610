"""The conformance suite has teeth: broken backends fail it, with a message that says why."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from django.tasks import task_backends

from rail_tasks.backends.thread import ThreadBackend
from rail_tasks.models import TaskExecution
from rail_tasks.testing import ConformanceSuite
from rail_tasks.testing.recorder import EVENTS_ENV

pytestmark = pytest.mark.django_db(transaction=True)


class IgnoresRunAfter(ThreadBackend):
    """Claims ``supports_defer`` but starts deferred executions at once."""

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> None:
        super().submit(execution)


class LosesMessages(ThreadBackend):
    """Never hands anything to its pool."""

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> None:
        return None


class Suite(ConformanceSuite):
    wait_timeout = 2.0


@pytest.fixture
def broken(settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Suite]:
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "events.jsonl"))
    settings.TASKS = {
        **settings.TASKS,
        "ignores_run_after": {"BACKEND": f"{__name__}.IgnoresRunAfter"},
        "loses_messages": {"BACKEND": f"{__name__}.LosesMessages"},
    }
    suite = Suite()
    yield suite
    for alias in ("ignores_run_after", "loses_messages"):
        backend = task_backends[alias]
        assert isinstance(backend, ThreadBackend)
        backend.shutdown(wait=True)


def test_a_backend_that_ignores_run_after_fails(broken: Suite) -> None:
    broken.backend_alias = "ignores_run_after"
    with pytest.raises(AssertionError):
        broken.test_run_after_is_respected(task_backends["ignores_run_after"])  # type: ignore[arg-type]


def test_a_backend_that_loses_messages_fails_with_a_hint(broken: Suite) -> None:
    broken.backend_alias = "loses_messages"
    with pytest.raises(pytest.fail.Exception, match=r"still 'pending' after 2s.*Is a worker running"):
        broken.test_enqueue_completes_with_result(task_backends["loses_messages"])  # type: ignore[arg-type]
