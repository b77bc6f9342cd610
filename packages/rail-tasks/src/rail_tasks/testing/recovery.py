"""``RecoverySuite``: what every engine must survive, as pytest tests.

The conformance suite checks what a backend does when all goes well; this one
kills things. A backend package subclasses it once, names its ``TASKS`` alias,
and provides ``start_worker``: a fixture returning a function that starts the
engine's worker (``concurrency`` processes or threads running tasks) and
returns a handle with ``kill()`` (SIGKILL every process of that worker at
once, as a machine loss would) and ``stop()``::

    @pytest.mark.django_db(transaction=True)
    class TestMyEngineRecovery(RecoverySuite):
        backend_alias = "myengine"

        @pytest.fixture
        def start_worker(self) -> Iterator[Callable[..., Any]]:
            workers = []

            def start(concurrency: int = 2):
                workers.append(MyWorker(concurrency).start())
                return workers[-1]

            yield start
            for worker in workers:
                worker.stop()

The engine's worker must use a short lease (``lease_seconds``) in these tests,
so a killed worker's attempts are found within ``wait_timeout``. Task starts
are observed through :mod:`rail_tasks.testing.recorder` (list it in
``RAIL_TASKS["plugins"]`` of the settings every process uses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytest
from django.tasks import Task, TaskResult, task_backends

from rail_tasks.backends.base import RailBackend
from rail_tasks.models import TaskExecution
from rail_tasks.status import FINISHED_STATUSES, Status
from rail_tasks.testing import tasks
from rail_tasks.testing.conformance import RecordedSuite
from rail_tasks.testing.recorder import read_events
from rail_tasks.testing.waiting import wait_for_status, wait_until

__all__ = ["RecoverySuite"]

_LOST = "rail_tasks.exceptions.WorkerLost"
_TIMEOUT = "rail_tasks.exceptions.TaskTimeout"


class RecoverySuite(RecordedSuite):
    """Crashes, kills, timeouts and cancels every engine must recover from; subclass with ``start_worker``."""

    #: The alias in ``settings.TASKS`` under test.
    backend_alias: ClassVar[str] = ""
    #: Seconds to wait for any expected outcome (covers a lease expiring after a kill).
    wait_timeout: ClassVar[float] = 60.0

    @pytest.fixture
    def start_worker(self) -> Callable[..., Any]:
        """``start(concurrency=2)`` -> a handle with ``kill()`` and ``stop()``; subclasses provide it."""
        pytest.fail(f"{type(self).__name__} must provide a start_worker fixture")

    @pytest.fixture
    def rail_backend(self) -> RailBackend:
        """The backend under test."""
        backend = task_backends[self.backend_alias]
        if not isinstance(backend, RailBackend):
            pytest.fail(f"TASKS[{self.backend_alias!r}] is {type(backend).__name__}, not a rail-tasks backend")
        return backend

    # -- helpers -----------------------------------------------------------------

    def using(self, task: Task[..., Any]) -> Task[..., Any]:
        """``task`` bound to the backend under test."""
        return task.using(backend=self.backend_alias)

    def wait(self, result: TaskResult[Any, Any] | str, *statuses: str) -> TaskExecution:
        """Wait for one of ``statuses``."""
        execution_id = result.id if isinstance(result, TaskResult) else result
        return wait_for_status(execution_id, statuses, timeout=self.wait_timeout)

    @staticmethod
    def starts(execution_id: str) -> int:
        """How many times the task function started for this execution."""
        return sum(1 for event in read_events(execution_id) if event["event"] == "task:run")

    def wait_started(self, *results: TaskResult[Any, Any], count: int | None = None) -> list[str]:
        """Wait until ``count`` (default: all) of ``results`` have started their function; their ids."""
        wanted = len(results) if count is None else count

        def started() -> list[str]:
            ids = [r.id for r in results if self.starts(r.id)]
            return ids if len(ids) >= wanted else []

        found: list[str] = wait_until(
            started, timeout=self.wait_timeout, message=f"{wanted} task(s) never started (is a worker running?)"
        )
        return found

    def fail_hooks(self, execution_id: str, count: int) -> list[bool]:
        """Wait for ``count`` ``rail_tasks_fail`` calls (from any process); their ``will_retry`` values."""

        def fired() -> list[bool]:
            found = [e["will_retry"] for e in read_events(execution_id) if e["event"] == "hook:fail"]
            return found if len(found) >= count else []

        found: list[bool] = wait_until(fired, timeout=10, message=f"rail_tasks_fail fired fewer than {count} times")
        return found

    def serves_again(self) -> None:
        """The engine still runs tasks."""
        result = self.using(tasks.add).enqueue(20, 22)
        assert self.wait(result, *FINISHED_STATUSES).result == {"sum": 42, "args": [20, 22]}

    # -- the tests -----------------------------------------------------------------

    def test_killed_mid_task_runs_again_and_completes(self, rail_backend: RailBackend, start_worker: Any) -> None:
        """SIGKILL of the whole worker mid-task: once the lease runs out the execution runs again and completes."""
        worker = start_worker(concurrency=1)
        result = self.using(tasks.sleeps_then_returns).enqueue(30)
        self.wait_started(result)
        worker.kill()
        start_worker(concurrency=1)
        row = TaskExecution.objects.get(pk=result.id)
        assert row.status in (Status.RUNNING, Status.RETRYING, Status.PENDING)
        TaskExecution.objects.filter(pk=result.id).update(kwargs={}, args=[0.2])  # the rerun is short
        row = self.wait(result, Status.COMPLETED)
        assert row.attempts == 2
        assert row.result == 2
        assert self.starts(result.id) == 2

    def test_claims_that_never_started_survive_a_crash(self, rail_backend: RailBackend, start_worker: Any) -> None:
        """A crash costs an attempt only to the executions whose function had started."""
        worker = start_worker(concurrency=2)
        results = [self.using(tasks.sleeps_once).enqueue(3) for _ in range(4)]
        started = set(self.wait_started(*results, count=2))
        worker.kill()
        start_worker(concurrency=2)
        for result in results:
            row = self.wait(result, *FINISHED_STATUSES)
            if result.id in started:
                assert (row.status, row.exception_class, row.attempts) == (Status.FAILED, _LOST, 1), row.error
            else:
                assert (row.status, row.attempts) == (Status.COMPLETED, 1), row.error
                assert self.starts(result.id) == 1

    def test_hard_timeout_ends_the_attempt_and_the_worker_carries_on(
        self, rail_backend: RailBackend, start_worker: Any
    ) -> None:
        """A task that never reports progress is stopped at its timeout, recorded as a timeout."""
        start_worker(concurrency=1)
        result = self.using(tasks.sleep_past_timeout).enqueue(120)
        row = self.wait(result, Status.FAILED)
        assert row.exception_class == _TIMEOUT
        assert row.attempts == 1
        self.serves_again()
        assert self.fail_hooks(result.id, 1) == [False], "the outcome hook fires once, wherever it was recorded"

    def test_cancel_of_a_task_that_never_reports_progress(self, rail_backend: RailBackend, start_worker: Any) -> None:
        """Cancelling a running task stops it even though it never calls ``update_progress``."""
        from rail_tasks.runner import cancel_execution

        start_worker(concurrency=1)
        result = self.using(tasks.sleeps_then_returns).enqueue(120)
        self.wait_started(result)
        cancel_execution(result.id)
        row = self.wait(result, Status.CANCELLED, Status.COMPLETED, Status.FAILED)
        assert row.status == Status.CANCELLED
        assert self.starts(result.id) == 1
        self.serves_again()

    def test_a_task_that_kills_its_process_fails_worker_lost(
        self, rail_backend: RailBackend, start_worker: Any
    ) -> None:
        """A task that ends its own process every time fails ``WorkerLost`` after its attempts; service goes on."""
        start_worker(concurrency=1)
        result = self.using(tasks.kills_own_process).enqueue()
        row = self.wait(result, Status.FAILED)
        assert row.exception_class == _LOST
        assert row.attempts == 2
        assert self.starts(result.id) == 2
        self.serves_again()
        assert self.fail_hooks(result.id, 2) == [True, False], "recorded outside the task, each outcome fires once"

    def test_system_exit_in_a_task_fails_it_and_the_worker_carries_on(
        self, rail_backend: RailBackend, start_worker: Any
    ) -> None:
        """``sys.exit()`` in a task fails that execution; it never stays ``running``."""
        start_worker(concurrency=1)
        result = self.using(tasks.exits_with).enqueue(3)
        row = self.wait(result, Status.FAILED)
        assert row.exception_class == "builtins.SystemExit"
        self.serves_again()
