"""``ConformanceSuite``: the behaviour every rail-tasks backend must show, as pytest tests.

A backend package subclasses it once, names its ``TASKS`` alias and starts its
engine's worker in the ``worker`` fixture::

    @pytest.mark.django_db(transaction=True)
    class TestMyEngineConformance(ConformanceSuite):
        backend_alias = "myengine"

        @pytest.fixture
        def worker(self) -> Iterator[None]:
            process = start_my_worker()
            yield
            process.terminate()

Tests that need a capability the backend does not claim (``supports_defer``,
``supports_timeout``, ``supports_get_result``, ``supports_async_task``) are
skipped with the reason; the priority-order test runs only with
``ordered_delivery = True``. Hooks and signals are observed through
:mod:`rail_tasks.testing.recorder`, which must be listed in
``RAIL_TASKS["plugins"]`` of the settings every process uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.tasks import Task, TaskResult, TaskResultStatus, task_backends
from django.utils import timezone

from rail_tasks.backends.base import RailBackend
from rail_tasks.models import TaskExecution
from rail_tasks.plugins import get_plugin_manager
from rail_tasks.runner import cancel_execution, retry_execution, run_execution
from rail_tasks.status import ACTIVE_STATUSES, FINISHED_STATUSES, Status
from rail_tasks.testing import recorder, tasks
from rail_tasks.testing.recorder import EVENTS_ENV, read_events
from rail_tasks.testing.waiting import wait_for_status, wait_until

__all__ = ["ConformanceSuite", "RecordedSuite"]

_TIMEOUT = "rail_tasks.exceptions.TaskTimeout"
_CANCELLED = "rail_tasks.exceptions.TaskCancelled"


def _sequence(events: list[dict[str, Any]], *, skip_progress: bool = True) -> list[str]:
    """Event names in order; ``hook:notify`` becomes ``notify:<event>``."""
    names = []
    for event in events:
        name = event["event"]
        if name == "hook:notify":
            name = f"notify:{event['notify_event']}"
        if skip_progress and name in {"hook:progress", "notify:progress"}:
            continue
        names.append(name)
    return names


class RecordedSuite:
    """Base of the suites: every process of a test class records hooks and signals to one events file."""

    @pytest.fixture(autouse=True, scope="class")
    @classmethod
    def _rail_events_file(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
        """Name an events file for the recorder in every process of this class (unless one is set)."""
        existing = os.environ.get(EVENTS_ENV)
        if existing:
            yield Path(existing)
            return
        path = tmp_path_factory.mktemp("rail-tasks-events") / "events.jsonl"
        os.environ[EVENTS_ENV] = str(path)
        try:
            yield path
        finally:
            os.environ.pop(EVENTS_ENV, None)


class ConformanceSuite(RecordedSuite):
    """Tests every backend passes; subclass with ``backend_alias`` and a ``worker`` fixture."""

    #: The alias in ``settings.TASKS`` under test (worker processes read the same settings).
    backend_alias: ClassVar[str] = ""
    #: Whether executions enqueued together start strictly by priority (one worker, concurrency 1).
    ordered_delivery: ClassVar[bool] = False
    #: Seconds to wait for any expected status.
    wait_timeout: ClassVar[float] = 30.0
    #: Seconds to let duplicate deliveries reach the engine's worker before counting starts.
    duplicate_grace_seconds: ClassVar[float] = 1.5

    # -- what subclasses provide ----------------------------------------------

    @pytest.fixture
    def worker(self) -> Iterator[None]:
        """Start the engine's worker(s) for one test and stop them after it (no-op by default)."""
        yield  # noqa: PT022 - the shape subclasses override: start, yield, stop

    def subprocess_env(self) -> dict[str, str]:
        """Environment of the child processes the suite starts (override to point them at the test DB)."""
        env = dict(os.environ)
        env.setdefault("DJANGO_SETTINGS_MODULE", str(settings.SETTINGS_MODULE))
        return env

    # -- fixtures ----------------------------------------------------------------

    @pytest.fixture
    def rail_backend(self, worker: None) -> Iterator[RailBackend]:
        """The backend under test, with its worker running; leftover executions are settled after the test."""
        if not self.backend_alias:
            pytest.fail(f"{type(self).__name__} must set backend_alias to an alias of settings.TASKS")
        backend = task_backends[self.backend_alias]
        if not isinstance(backend, RailBackend):
            pytest.fail(f"TASKS[{self.backend_alias!r}] is {type(backend).__name__}, not a rail-tasks backend")
        yield backend
        self._settle()

    @pytest.fixture
    def recorded(self) -> Callable[[str], list[dict[str, Any]]]:
        """``recorded(execution_id)``: that execution's recorded events (the recorder must be loaded)."""
        if not any(plugin is recorder for plugin in get_plugin_manager().get_plugins()):
            pytest.fail(
                "The hook recorder is not loaded: add 'rail_tasks.testing.recorder' to RAIL_TASKS['plugins'] "
                "in the settings every process (test and workers) uses."
            )
        return read_events

    def _settle(self) -> None:
        """Cancel what a test left active and wait for it to end, so nothing runs into the next test."""
        leftovers = list(TaskExecution.objects.filter(backend=self.backend_alias, status__in=ACTIVE_STATUSES))
        for execution in leftovers:
            cancel_execution(execution.pk)
        for execution in leftovers:
            wait_for_status(execution.pk, FINISHED_STATUSES, timeout=self.wait_timeout)

    # -- helpers -----------------------------------------------------------------

    @staticmethod
    def skip_unless_deferring(backend: RailBackend) -> None:
        """Skip unless the backend waits for ``run_after`` (inline backends run at once)."""
        if not backend.supports_defer:
            pytest.skip(f"{type(backend).__name__} does not support run_after")
        if backend.runs_inline:
            pytest.skip(f"{type(backend).__name__} runs inline: it does not wait for run_after")

    def using(self, task: Task[..., Any], **options: Any) -> Task[..., Any]:
        """``task`` bound to the backend under test."""
        return task.using(backend=self.backend_alias, **options)

    def wait(self, result: TaskResult[Any, Any] | str, *statuses: str, timeout: float | None = None) -> TaskExecution:
        """Wait for an execution (a ``TaskResult`` or id) to reach one of ``statuses``."""
        execution_id = result.id if isinstance(result, TaskResult) else result
        return wait_for_status(execution_id, statuses, timeout=timeout or self.wait_timeout)

    def runs(self, execution_id: str) -> int:
        """How many times a conformance task's function body started for this execution."""
        return sum(1 for event in read_events(execution_id) if event["event"] == "task:run")

    def wait_for_event(self, execution_id: str, name: str) -> list[dict[str, Any]]:
        """Wait until ``name`` was recorded for the execution; return all its events."""

        def recorded() -> list[dict[str, Any]]:
            events = read_events(execution_id)
            return events if any(event["event"] == name for event in events) else []

        return wait_until(
            recorded,
            timeout=self.wait_timeout,
            message=f"{name} was never recorded for execution {execution_id} (is the recorder loaded in the worker?)",
        )

    def enqueue_in_background(self, task: Task[..., Any], *args: Any) -> tuple[threading.Thread, list[BaseException]]:
        """Enqueue from another thread (for inline backends, whose ``enqueue`` blocks while the task runs)."""
        errors: list[BaseException] = []

        def target() -> None:
            try:
                task.enqueue(*args)
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        thread = threading.Thread(target=target, name="rail-tasks-conformance-enqueue", daemon=True)
        thread.start()
        return thread, errors

    # -- enqueue, results --------------------------------------------------------

    def test_enqueue_completes_with_result(self, rail_backend: RailBackend) -> None:
        """An enqueued task runs once and completes with its JSON result."""
        result = self.using(tasks.add).enqueue(2, 3)
        assert result.backend == self.backend_alias
        row = self.wait(result, Status.COMPLETED)
        assert row.result == {"sum": 5, "args": [2, 3]}
        assert row.attempts == 1
        assert row.progress == 100
        assert row.started_at is not None
        assert row.completed_at is not None
        assert row.created_at <= row.started_at <= row.completed_at
        assert row.error == ""
        assert row.exception_class == ""
        result.refresh()
        assert result.status == TaskResultStatus.SUCCESSFUL
        assert result.return_value == {"sum": 5, "args": [2, 3]}
        assert self.runs(result.id) == 1

    def test_get_result_reads_back(self, rail_backend: RailBackend) -> None:
        """``Task.get_result`` and ``backend.get_result`` rebuild the result from the row."""
        if not rail_backend.supports_get_result:
            pytest.skip(f"{type(rail_backend).__name__} does not support get_result")
        task = self.using(tasks.add)
        result = task.enqueue(20, 22)
        self.wait(result, Status.COMPLETED)
        for again in (task.get_result(result.id), rail_backend.get_result(result.id)):
            assert again.id == result.id
            assert again.status == TaskResultStatus.SUCCESSFUL
            assert again.return_value == {"sum": 42, "args": [20, 22]}
            assert again.attempts == 1
            assert again.args == [20, 22]
            assert again.backend == self.backend_alias
            assert again.finished_at is not None

    def test_get_result_from_another_process(self, rail_backend: RailBackend) -> None:
        """A process that never saw the enqueue reads the same result."""
        if not rail_backend.supports_get_result:
            pytest.skip(f"{type(rail_backend).__name__} does not support get_result")
        result = self.using(tasks.add).enqueue(7, 8)
        self.wait(result, Status.COMPLETED)
        command = [sys.executable, "-m", "rail_tasks.testing.read_result", self.backend_alias, result.id]
        done = subprocess.run(  # noqa: S603 - our interpreter, our module
            command, env=self.subprocess_env(), capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"read_result failed ({done.returncode}):\n{done.stderr}"
        read = json.loads(done.stdout.strip().splitlines()[-1])
        assert read == {
            "id": result.id,
            "status": "SUCCESSFUL",
            "return_value": {"sum": 15, "args": [7, 8]},
            "attempts": 1,
            "errors": [],
            "backend": self.backend_alias,
            "task": tasks.add.module_path,
        }

    def test_async_task_completes(self, rail_backend: RailBackend) -> None:
        """An ``async def`` task runs and completes."""
        if not rail_backend.supports_async_task:
            pytest.skip(f"{type(rail_backend).__name__} does not support async tasks")
        result = self.using(tasks.async_add).enqueue(4, 5)
        assert self.wait(result, Status.COMPLETED).result == 9

    # -- progress ----------------------------------------------------------------

    def test_progress_is_written(self, rail_backend: RailBackend, recorded: Callable[[str], list[Any]]) -> None:
        """``update_progress`` writes the row and fires the progress hook, ending at 100 / ``done``."""
        result = self.using(tasks.report_progress).enqueue(4)
        row = self.wait(result, Status.COMPLETED)
        assert (row.progress, row.progress_message, row.result) == (100, "done", 4)
        events = self.wait_for_event(result.id, "signal:task_finished")
        progress = [(e["progress"], e["message"]) for e in events if e["event"] == "hook:progress"]
        assert progress, "rail_tasks_progress never fired"
        assert progress[-1] == (100, "done")
        values = [value for value, _ in progress]
        assert values == sorted(values)

    # -- failures ----------------------------------------------------------------

    def test_retry_then_success(self, rail_backend: RailBackend) -> None:
        """A failed attempt is retried and the next one's success is recorded."""
        result = self.using(tasks.flaky).enqueue(1)
        row = self.wait(result, Status.COMPLETED)
        assert row.attempts == 2
        assert row.retry_count == 1
        assert row.result == "succeeded on attempt 2"
        assert row.error == ""
        assert row.exception_class == ""
        assert self.runs(result.id) == 2

    def test_retries_exhausted_fails(self, rail_backend: RailBackend) -> None:
        """After its last retry a task fails with error, exception class and traceback."""
        result = self.using(tasks.always_fails).enqueue("boom")
        row = self.wait(result, Status.FAILED)
        assert row.attempts == 2  # first attempt + max_retries=1
        assert row.error == "boom"
        assert row.exception_class == "builtins.ValueError"
        assert "Traceback" in row.traceback
        assert "ValueError: boom" in row.traceback
        assert row.completed_at is not None
        assert self.runs(result.id) == 2
        result.refresh()
        assert result.status == TaskResultStatus.FAILED
        assert [error.exception_class_path for error in result.errors] == ["builtins.ValueError"]

    def test_retry_execution_runs_a_failed_execution_again(self, rail_backend: RailBackend) -> None:
        """``retry_execution`` puts a failed execution back through its engine from attempt one."""
        result = self.using(tasks.always_fails).enqueue("again")
        self.wait(result, Status.FAILED)
        retry_execution(result.id)
        wait_until(lambda: self.runs(result.id) == 4, timeout=self.wait_timeout, message="retry never ran")
        row = self.wait(result, Status.FAILED)
        assert row.attempts == 2

    def test_timeout_stops_a_task_at_update_progress(self, rail_backend: RailBackend) -> None:
        """A task past its timeout is stopped at its next ``update_progress`` and fails with ``TaskTimeout``."""
        result = self.using(tasks.slow_with_progress).enqueue(60)
        row = self.wait(result, Status.FAILED)
        assert row.exception_class == _TIMEOUT
        assert row.started_at is not None
        assert row.completed_at is not None
        assert row.completed_at - row.started_at < timedelta(seconds=30)

    def test_timeout_stops_a_sleeping_task(self, rail_backend: RailBackend) -> None:
        """The engine stops a task that never calls ``update_progress`` once its timeout passes."""
        if not rail_backend.supports_timeout:
            pytest.skip(f"{type(rail_backend).__name__} cannot stop a task from outside (supports_timeout=False)")
        result = self.using(tasks.sleep_past_timeout).enqueue(60)
        row = self.wait(result, Status.FAILED, timeout=self.wait_timeout + 2)
        assert row.exception_class == _TIMEOUT
        assert row.started_at is not None
        assert row.completed_at is not None
        assert row.completed_at - row.started_at < timedelta(seconds=30)

    # -- cancel ------------------------------------------------------------------

    def test_cancel_pending(self, rail_backend: RailBackend, recorded: Callable[[str], list[Any]]) -> None:
        """Cancelling an execution that has not started ends it at once; it never runs."""
        with transaction.atomic():
            result = self.using(tasks.add).enqueue(1, 1)
            cancelled = cancel_execution(result.id)
            assert cancelled.status == Status.CANCELLED
        time.sleep(self.duplicate_grace_seconds)  # its message (if any) reached the engine by now
        row = self.wait(result, Status.CANCELLED, timeout=1)
        assert row.attempts == 0
        assert self.runs(result.id) == 0
        assert row.exception_class == _CANCELLED
        assert _sequence(recorded(result.id))[-3:] == ["hook:cancel", "notify:cancelled", "signal:task_finished"]
        result.refresh()
        assert result.status == TaskResultStatus.FAILED

    def test_cancel_deferred(self, rail_backend: RailBackend) -> None:
        """Cancelling an execution waiting for its ``run_after`` ends it at once."""
        self.skip_unless_deferring(rail_backend)
        result = self.using(tasks.add, run_after=timezone.now() + timedelta(seconds=60)).enqueue(1, 2)
        assert TaskExecution.objects.get(pk=result.id).status == Status.PENDING
        assert cancel_execution(result.id).status == Status.CANCELLED
        time.sleep(self.duplicate_grace_seconds)
        assert self.wait(result, Status.CANCELLED, timeout=1).attempts == 0
        assert self.runs(result.id) == 0

    def test_cancel_running(self, rail_backend: RailBackend) -> None:
        """Cancelling a running execution stops it and records ``cancelled``."""
        task = self.using(tasks.wait_for_cancel)
        background: tuple[threading.Thread, list[BaseException]] | None = None
        if rail_backend.runs_inline:
            background = self.enqueue_in_background(task, 60)
            execution_id = str(
                wait_until(
                    lambda: (
                        TaskExecution.objects.filter(backend=self.backend_alias, task_path=task.module_path)
                        .values_list("pk", flat=True)
                        .first()
                    ),
                    timeout=self.wait_timeout,
                    message="the background enqueue never created its row",
                )
            )
        else:
            execution_id = task.enqueue(60).id
        self.wait(execution_id, Status.RUNNING)
        wait_until(lambda: self.runs(execution_id) == 1, timeout=self.wait_timeout, message="task body never started")
        cancel_execution(execution_id)
        row = self.wait(execution_id, Status.CANCELLED)
        assert row.exception_class == _CANCELLED
        assert row.result is None
        assert row.started_at is not None
        assert row.completed_at is not None
        assert row.completed_at - row.started_at < timedelta(seconds=45)
        if background is not None:
            thread, errors = background
            thread.join(self.wait_timeout)
            assert not thread.is_alive(), "the inline enqueue did not return after the cancel"
            assert not errors, errors

    # -- scheduling --------------------------------------------------------------

    def test_run_after_is_respected(self, rail_backend: RailBackend) -> None:
        """A deferred execution does not start before its ``run_after``."""
        self.skip_unless_deferring(rail_backend)
        run_after = timezone.now() + timedelta(seconds=3)
        result = self.using(tasks.add, run_after=run_after).enqueue(3, 4)
        assert TaskExecution.objects.get(pk=result.id).run_after == run_after
        time.sleep(1)
        assert TaskExecution.objects.get(pk=result.id).status == Status.PENDING
        row = self.wait(result, Status.COMPLETED, timeout=self.wait_timeout + 3)
        assert row.started_at is not None
        assert row.started_at >= run_after
        assert row.result == {"sum": 7, "args": [3, 4]}

    def test_priority_order(self, rail_backend: RailBackend) -> None:
        """Executions that become ready together start highest priority first."""
        if not self.ordered_delivery:
            pytest.skip("ordered_delivery is False: this setup does not promise start order")
        labels = {"low": -10, "high": 10, "mid": 0}
        with transaction.atomic():
            ids = [self.using(tasks.record_label, priority=p).enqueue(label).id for label, p in labels.items()]
        for execution_id in ids:
            self.wait(execution_id, Status.COMPLETED)
        starts = [e for e in read_events() if e["event"] == "task:run" and e["execution_id"] in ids]
        assert [e["label"] for e in starts] == ["high", "mid", "low"]

    # -- hooks and signals --------------------------------------------------------

    def test_signals_and_hooks_fire_in_order(
        self, rail_backend: RailBackend, recorded: Callable[[str], list[Any]]
    ) -> None:
        """Enqueue-side events in the enqueuing process, then the run's events in one worker process."""
        result = self.using(tasks.add).enqueue(5, 6)
        self.wait(result, Status.COMPLETED)
        events = self.wait_for_event(result.id, "context:exit")
        assert _sequence(events) == [
            "hook:enqueue",
            "notify:enqueued",
            "signal:task_enqueued",
            "signal:task_started",
            "hook:start",
            "notify:started",
            "context:enter",
            "task:run",
            "hook:complete",
            "notify:completed",
            "signal:task_finished",
            "context:exit",
        ]
        by_name = {_sequence([e])[0]: e for e in events}
        assert {e["pid"] for e in events[:3]} == {os.getpid()}
        assert len({e["pid"] for e in events[3:]}) == 1, "one attempt ran in more than one process"
        assert by_name["hook:start"]["status"] == Status.RUNNING
        assert by_name["hook:complete"]["status"] == Status.COMPLETED
        assert by_name["hook:complete"]["result"] == {"sum": 11, "args": [5, 6]}
        assert by_name["signal:task_started"]["status"] == TaskResultStatus.RUNNING
        assert by_name["signal:task_finished"]["status"] == TaskResultStatus.SUCCESSFUL

    def test_hooks_on_retry_and_failure(self, rail_backend: RailBackend, recorded: Callable[[str], list[Any]]) -> None:
        """Each failed attempt fires ``fail``; only the last one ends the execution with ``task_finished``."""
        result = self.using(tasks.always_fails).enqueue("twice")
        self.wait(result, Status.FAILED)

        def both_attempts_exited() -> list[dict[str, Any]]:
            found = recorded(result.id)
            return found if _sequence(found).count("context:exit") == 2 else []

        events = wait_until(
            both_attempts_exited, timeout=self.wait_timeout, message="the second attempt's context never exited"
        )
        names = _sequence(events)
        assert names.count("signal:task_started") == 2
        assert names.count("signal:task_finished") == 1
        # Outcome hooks fire inside the execution context: a span sees the outcome before it ends.
        assert names[-4:] == ["hook:fail", "notify:failed", "signal:task_finished", "context:exit"]
        assert [e["will_retry"] for e in events if e["event"] == "hook:fail"] == [True, False]
        assert [e["error_class"] for e in events if e["event"] == "hook:fail"] == ["builtins.ValueError"] * 2
        notified = [n for n in names if n.startswith("notify:")]
        assert notified == [
            "notify:enqueued",
            "notify:started",
            "notify:retrying",
            "notify:started",
            "notify:failed",
        ]

    # -- delivery ----------------------------------------------------------------

    def test_second_delivery_runs_once(self, rail_backend: RailBackend, recorded: Callable[[str], list[Any]]) -> None:
        """Submitting one execution several times and calling ``run_execution`` again runs it once."""
        with transaction.atomic():
            result = self.using(tasks.add).enqueue(9, 9)
            execution = TaskExecution.objects.get(pk=result.id)
            transaction.on_commit(lambda: rail_backend.submit(execution))
            transaction.on_commit(lambda: rail_backend.submit(execution))
        run_execution(result.id, worker_id="conformance-duplicate")  # races the engine's deliveries
        row = self.wait(result, Status.COMPLETED)
        assert run_execution(result.id) is None
        assert run_execution(result.id) is None
        rail_backend.submit(row)
        rail_backend.submit(row)
        time.sleep(self.duplicate_grace_seconds)
        row = self.wait(result, Status.COMPLETED, timeout=1)
        assert row.attempts == 1
        assert self.runs(result.id) == 1
        assert _sequence(recorded(result.id)).count("hook:start") == 1
