"""Every hookspec fires with the right arguments at the right point of the lifecycle.

One ``test_hook_<name>`` per hookspec (``tests/rail_tasks/test_docs.py`` fails when
one is missing). Plugins are registered with the ``plugin`` fixture, for one test.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

import rail_tasks
from rail_tasks import Status, TaskExecution, TaskTimeout, hookimpl, hookspecs
from rail_tasks.backends import backend_path, registered_backends
from tests.taskapp import tasks
from tests.taskapp.models import Ledger

pytestmark = pytest.mark.django_db(transaction=True)

Register = Callable[[object, str], object]


def db_status(execution: TaskExecution) -> str:
    """The status in the database right now (not the in-memory copy the hook got)."""
    return TaskExecution.objects.values_list("status", flat=True).get(pk=execution.pk)


def wait_for(pk: Any, *statuses: str, timeout: float = 10.0) -> TaskExecution:
    """Poll until the execution reaches one of ``statuses`` (thread backend)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = TaskExecution.objects.get(pk=pk)
        if row.status in statuses:
            return row
        time.sleep(0.02)
    raise AssertionError(f"execution {pk} still {TaskExecution.objects.get(pk=pk).status}, wanted {statuses}")


class Sequence:
    """Records the order of every hook call (``notify`` with its event)."""

    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    def rail_tasks_enqueue_metadata(self) -> None:
        self.events.append("enqueue_metadata")

    @hookimpl
    def rail_tasks_enqueue(self) -> None:
        self.events.append("enqueue")

    @hookimpl
    def rail_tasks_start(self) -> None:
        self.events.append("start")

    @hookimpl
    def rail_tasks_execution_context(self) -> Any:
        @contextmanager
        def around() -> Iterator[None]:
            self.events.append("context:enter")
            try:
                yield
            finally:
                self.events.append("context:exit")

        return around()

    @hookimpl
    def rail_tasks_progress(self, progress: int) -> None:
        self.events.append(f"progress:{progress}")

    @hookimpl
    def rail_tasks_complete(self) -> None:
        self.events.append("complete")

    @hookimpl
    def rail_tasks_fail(self, will_retry: bool) -> None:
        self.events.append(f"fail:{'retry' if will_retry else 'final'}")

    @hookimpl
    def rail_tasks_cancel(self) -> None:
        self.events.append("cancel")

    @hookimpl
    def rail_tasks_notify(self, event: str) -> None:
        self.events.append(f"notify:{event}")


# ---------------------------------------------------------------------------
# One test per hookspec
# ---------------------------------------------------------------------------


def test_hook_register_backends(plugin: Register) -> None:
    class Contributes:
        @hookimpl
        def rail_tasks_register_backends(self, register: Callable[[str, str], None]) -> None:
            register("inline2", "rail_tasks.backends.sync.SyncBackend")

    before = registered_backends()
    assert before["sync"] == "rail_tasks.backends.sync.SyncBackend"
    assert "inline2" not in before
    plugin(Contributes(), "contributes")
    after = registered_backends()
    assert after["inline2"] == "rail_tasks.backends.sync.SyncBackend"
    assert {"sync", "thread", "database"} <= set(after)
    assert backend_path("inline2") == "rail_tasks.backends.sync.SyncBackend"
    assert backend_path("thread") == "rail_tasks.backends.thread.ThreadBackend"


def test_duplicate_backend_names_are_an_error(plugin: Register) -> None:
    class Steals:
        @hookimpl
        def rail_tasks_register_backends(self, register: Callable[[str, str], None]) -> None:
            register("sync", "tests.nowhere.OtherBackend")

    plugin(Steals(), "steals-sync")
    with pytest.raises(ImproperlyConfigured, match=r"'sync' is registered by both") as info:
        registered_backends()
    assert "steals-sync" in str(info.value)
    assert "core" in str(info.value)


def test_hook_enqueue_metadata(plugin: Register) -> None:
    seen: list[dict[str, Any]] = []

    class Propagates:
        @hookimpl
        def rail_tasks_enqueue_metadata(self, task: Any, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
            # Called before the row exists.
            seen.append({"task": task, "args": args, "kwargs": kwargs, "rows": TaskExecution.objects.count()})
            return {"traceparent": "00-abc-def-01", "tenant": kwargs.get("b")}

        @hookimpl
        def rail_tasks_start(self, execution: TaskExecution) -> None:
            seen.append({"start_metadata": dict(execution.metadata)})

    plugin(Propagates(), "propagates")
    result = tasks.add.enqueue(2, b=3)
    assert seen[0] == {"task": tasks.add, "args": [2], "kwargs": {"b": 3}, "rows": 0}
    assert seen[1] == {"start_metadata": {"traceparent": "00-abc-def-01", "tenant": 3}}
    assert TaskExecution.objects.get(pk=result.id).metadata == {"traceparent": "00-abc-def-01", "tenant": 3}


def test_enqueue_metadata_reaches_a_worker_thread(plugin: Register) -> None:
    """Tracing through hooks alone: metadata attached at enqueue is on the execution the worker starts."""
    started: dict[str, Any] = {}

    class Trace:
        @hookimpl
        def rail_tasks_enqueue_metadata(self) -> dict[str, Any]:
            return {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}

        @hookimpl
        def rail_tasks_start(self, execution: TaskExecution) -> None:
            started["metadata"] = execution.metadata
            started["thread"] = threading.current_thread().name

    plugin(Trace(), "trace")
    result = tasks.add.using(backend="thread").enqueue(1, 1)
    wait_for(result.id, Status.COMPLETED)
    assert started["metadata"] == {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    assert started["thread"] != threading.current_thread().name  # the worker side, not the enqueuing thread


def test_enqueue_metadata_that_is_not_json_is_dropped_and_logged(plugin: Register, caplog: Any) -> None:
    class Bad:
        @hookimpl
        def rail_tasks_enqueue_metadata(self) -> dict[str, Any]:
            return {"span": object()}

    class Good:
        @hookimpl
        def rail_tasks_enqueue_metadata(self) -> dict[str, Any]:
            return {"ok": True}

    plugin(Good(), "good-metadata")
    plugin(Bad(), "bad-metadata")
    result = tasks.add.enqueue(1, 2)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.COMPLETED
    assert row.metadata == {"ok": True}
    assert any("bad-metadata" in r.getMessage() and r.name == "rail_tasks.plugins" for r in caplog.records)


def test_hook_enqueue(plugin: Register) -> None:
    seen: list[dict[str, Any]] = []

    class Watches:
        @hookimpl
        def rail_tasks_enqueue_metadata(self) -> dict[str, Any]:
            return {"k": "v"}

        @hookimpl
        def rail_tasks_enqueue(self, execution: TaskExecution) -> None:
            seen.append(
                {
                    "status": execution.status,
                    "db_status": db_status(execution),  # inserted, not yet run by the sync backend
                    "attempts": execution.attempts,
                    "metadata": execution.metadata,
                    "name": execution.name,
                    "args": execution.args,
                }
            )

    plugin(Watches(), "watches")
    tasks.add.enqueue(4, 5)
    assert seen == [
        {
            "status": "pending",
            "db_status": "pending",
            "attempts": 0,
            "metadata": {"k": "v"},
            "name": "add",
            "args": [4, 5],
        }
    ]


def test_hook_enqueue_fires_before_the_transaction_commits(plugin: Register) -> None:
    seen: list[str] = []

    class Watches:
        @hookimpl
        def rail_tasks_enqueue(self, execution: TaskExecution) -> None:
            seen.append(f"enqueue:{execution.status}")

        @hookimpl
        def rail_tasks_start(self) -> None:
            seen.append("start")

    plugin(Watches(), "watches")
    with transaction.atomic():
        tasks.add.enqueue(1, 1)
        assert seen == ["enqueue:pending"]  # submit waits for the commit
    assert seen == ["enqueue:pending", "start"]


def test_hook_start(plugin: Register) -> None:
    seen: list[dict[str, Any]] = []

    class Watches:
        @hookimpl
        def rail_tasks_start(self, execution: TaskExecution) -> None:
            seen.append(
                {
                    "status": execution.status,
                    "db_status": db_status(execution),
                    "attempts": execution.attempts,
                    "started": execution.started_at is not None,
                    "worker": execution.worker_id,
                    # Before the function body: the task has not written its ledger row yet.
                    "ledger_rows": Ledger.objects.filter(execution_id=execution.id).count(),
                }
            )

    plugin(Watches(), "watches")
    result = tasks.ledger_task.enqueue("x")
    assert seen == [
        {
            "status": "running",
            "db_status": "running",
            "attempts": 1,
            "started": True,
            "worker": "sync:default",
            "ledger_rows": 0,
        }
    ]
    assert Ledger.objects.filter(execution_id=result.id).count() == 1


def test_hook_start_fires_once_per_attempt(plugin: Register) -> None:
    attempts: list[int] = []

    class Watches:
        @hookimpl
        def rail_tasks_start(self, execution: TaskExecution) -> None:
            attempts.append(execution.attempts)

    plugin(Watches(), "watches")
    tasks.flaky_external_call.enqueue("d", fail_times=2)
    assert attempts == [1, 2, 3]


def test_hook_execution_context(plugin: Register) -> None:
    log: list[Any] = []

    class Span:
        def __init__(self, execution: TaskExecution) -> None:
            self.execution = execution

        def __enter__(self) -> Span:
            handle = rail_tasks.current_task()
            log.append(("enter", handle.id if handle else None, Ledger.objects.count()))
            return self

        def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
            log.append(("exit", exc_type, Ledger.objects.count(), db_status(self.execution)))
            return True  # tries to swallow: must not change the recorded outcome

    class Traces:
        @hookimpl
        def rail_tasks_execution_context(self, execution: TaskExecution) -> Span:
            return Span(execution)

    plugin(Traces(), "traces")
    ok = tasks.ledger_task.enqueue("wrapped")
    # Entered inside the running task (current_task() is set), before the body; exited after the outcome was
    # recorded and its hooks fired, so a span ends with the outcome.
    assert log == [("enter", ok.id, 0), ("exit", None, 1, "completed")]

    log.clear()
    failed = tasks.always_fails.enqueue("boom")
    assert log[0][0] == "enter"
    assert log[1][:2] == ("exit", ValueError)
    row = TaskExecution.objects.get(pk=failed.id)
    assert row.status == Status.FAILED
    assert row.error == "boom"


def test_execution_context_sees_timeout_and_is_per_attempt(plugin: Register) -> None:
    exits: list[Any] = []

    @contextmanager
    def span(execution: TaskExecution) -> Iterator[None]:
        try:
            yield
        except BaseException as exc:
            exits.append((execution.attempts, type(exc)))
            raise
        else:
            exits.append((execution.attempts, None))

    class Traces:
        @hookimpl
        def rail_tasks_execution_context(self, execution: TaskExecution) -> Any:
            return span(execution)

    plugin(Traces(), "traces")
    tasks.flaky_external_call.enqueue("d", fail_times=1)
    assert exits == [(1, ConnectionError), (2, None)]
    exits.clear()
    tasks.slow_with_progress.enqueue(2.0)
    assert exits == [(1, TaskTimeout)]


def test_hook_progress(plugin: Register) -> None:
    seen: list[tuple[Any, ...]] = []

    class Watches:
        @hookimpl
        def rail_tasks_progress(self, execution: TaskExecution, progress: int, message: str | None) -> None:
            row = TaskExecution.objects.get(pk=execution.pk)
            seen.append((progress, message, execution.status, row.progress, row.progress_message))

    plugin(Watches(), "watches")
    tasks.generate_report.enqueue("r1")
    assert seen == [
        (25, "Fetching data...", "running", 25, "Fetching data..."),
        (50, "Processing...", "running", 50, "Processing..."),
        (75, "Generating file...", "running", 75, "Generating file..."),
        (100, "Complete", "running", 100, "Complete"),
    ]


def test_hook_progress_gets_clamped_values_and_none_message(plugin: Register) -> None:
    seen: list[tuple[int, str | None]] = []

    class Watches:
        @hookimpl
        def rail_tasks_progress(self, progress: int, message: str | None) -> None:
            seen.append((progress, message))

    plugin(Watches(), "watches")
    result = tasks.add.enqueue(1, 1)
    execution = TaskExecution.objects.get(pk=result.id)
    # Drive a handle on a row that is running again, as a worker would.
    TaskExecution.objects.filter(pk=execution.pk).update(status=Status.RUNNING)
    execution.refresh_from_db()
    handle = rail_tasks.TaskHandle(execution)
    handle.update_progress(150)
    handle.update_progress(-5, "rewind")
    assert seen == [(100, None), (0, "rewind")]


def test_hook_complete(plugin: Register) -> None:
    seen: list[tuple[Any, ...]] = []

    class Watches:
        @hookimpl
        def rail_tasks_complete(self, execution: TaskExecution, result: Any) -> None:
            seen.append(
                (result, execution.status, db_status(execution), execution.result, execution.completed_at is not None)
            )

    plugin(Watches(), "watches")
    tasks.generate_report.enqueue("r2")
    assert seen == [
        (
            {"ok": True, "dataset_id": "r2", "file_path": "/reports/r2.pdf"},
            "completed",
            "completed",
            {"ok": True, "dataset_id": "r2", "file_path": "/reports/r2.pdf"},
            True,
        )
    ]


def test_hook_fail(plugin: Register) -> None:
    seen: list[tuple[Any, ...]] = []

    class Watches:
        @hookimpl
        def rail_tasks_fail(self, execution: TaskExecution, error: BaseException, will_retry: bool) -> None:
            seen.append(
                (type(error), str(error), will_retry, execution.status, db_status(execution), execution.attempts)
            )

    plugin(Watches(), "watches")
    tasks.flaky_external_call.enqueue("d", fail_times=1)
    assert seen == [(ConnectionError, "external API down (attempt 1)", True, "retrying", "retrying", 1)]

    seen.clear()
    tasks.always_fails.enqueue("final")
    assert seen == [(ValueError, "final", False, "failed", "failed", 1)]

    seen.clear()
    tasks.slow_with_progress.enqueue(2.0)
    assert seen[0][0] is TaskTimeout
    assert seen[0][2:5] == (False, "failed", "failed")


def test_hook_cancel(plugin: Register) -> None:
    seen: list[tuple[Any, ...]] = []

    class Watches:
        @hookimpl
        def rail_tasks_cancel(self, execution: TaskExecution) -> None:
            seen.append((execution.status, db_status(execution), threading.current_thread().name))

    plugin(Watches(), "watches")
    # A waiting execution: cancelled at once, in the caller's thread.
    waiting = tasks.add.using(backend="database").enqueue(1, 2)  # nothing runs it in this test
    rail_tasks.cancel_execution(waiting.id)
    assert seen == [("cancelled", "cancelled", threading.current_thread().name)]

    # A running one: the request is seen at the next progress update, in the worker thread.
    seen.clear()
    running = tasks.wait_for_cancel.using(backend="thread").enqueue(10.0)
    wait_for(running.id, Status.RUNNING)
    rail_tasks.cancel_execution(running.id)
    wait_for(running.id, Status.CANCELLED)
    deadline = time.monotonic() + 5
    while not seen and time.monotonic() < deadline:  # the hook runs just after the row changed
        time.sleep(0.01)
    assert len(seen) == 1
    assert seen[0][:2] == ("cancelled", "cancelled")
    assert seen[0][2].startswith("rail-tasks-thread")


def test_hook_notify(plugin: Register) -> None:
    sequence = plugin(Sequence(), "sequence")
    assert isinstance(sequence, Sequence)
    tasks.generate_report.enqueue("n1")
    assert sequence.events == [
        "enqueue_metadata",
        "enqueue",
        "notify:enqueued",
        "start",
        "notify:started",
        "context:enter",
        "progress:25",
        "notify:progress",
        "progress:50",
        "notify:progress",
        "progress:75",
        "notify:progress",
        "progress:100",
        "notify:progress",
        "complete",
        "notify:completed",
        "context:exit",
    ]

    sequence.events.clear()
    tasks.flaky_external_call.enqueue("d", fail_times=1)
    assert [e for e in sequence.events if e.startswith(("fail", "notify", "complete"))] == [
        "notify:enqueued",
        "notify:started",
        "fail:retry",
        "notify:retrying",
        "notify:started",
        "complete",
        "notify:completed",
    ]

    sequence.events.clear()
    tasks.always_fails.enqueue("x")
    assert sequence.events[-3:] == ["fail:final", "notify:failed", "context:exit"]

    sequence.events.clear()
    waiting = tasks.add.using(backend="database").enqueue(1, 2)
    rail_tasks.cancel_execution(waiting.id)
    assert sequence.events == ["enqueue_metadata", "enqueue", "notify:enqueued", "cancel", "notify:cancelled"]


def test_notify_passes_the_row_after_the_change(plugin: Register) -> None:
    seen: list[tuple[str, str, int]] = []

    class Watches:
        @hookimpl
        def rail_tasks_notify(self, execution: TaskExecution, event: str) -> None:
            seen.append((event, execution.status, execution.progress))

    plugin(Watches(), "watches")
    tasks.bulk_import.enqueue(["a", "b"])
    assert seen == [
        ("enqueued", "pending", 0),
        ("started", "running", 0),
        ("progress", "running", 50),
        ("progress", "running", 100),
        ("completed", "completed", 100),
    ]


# ---------------------------------------------------------------------------
# Containment: a raising hook is logged with its plugin's name and changes nothing
# ---------------------------------------------------------------------------


class Raises:
    """Raises in every hook."""

    @hookimpl
    def rail_tasks_enqueue_metadata(self) -> None:
        raise RuntimeError("metadata hook broke")

    @hookimpl
    def rail_tasks_enqueue(self) -> None:
        raise RuntimeError("enqueue hook broke")

    @hookimpl
    def rail_tasks_start(self) -> None:
        raise RuntimeError("start hook broke")

    @hookimpl
    def rail_tasks_execution_context(self) -> None:
        raise RuntimeError("context hook broke")

    @hookimpl
    def rail_tasks_progress(self) -> None:
        raise RuntimeError("progress hook broke")

    @hookimpl
    def rail_tasks_complete(self) -> None:
        raise RuntimeError("complete hook broke")

    @hookimpl
    def rail_tasks_fail(self) -> None:
        raise RuntimeError("fail hook broke")

    @hookimpl
    def rail_tasks_cancel(self) -> None:
        raise RuntimeError("cancel hook broke")

    @hookimpl
    def rail_tasks_notify(self) -> None:
        raise RuntimeError("notify hook broke")

    @hookimpl
    def rail_tasks_register_backends(self) -> None:
        raise RuntimeError("register hook broke")


def test_raising_hooks_are_logged_with_the_plugin_name_and_change_nothing(plugin: Register, caplog: Any) -> None:
    # Registered before and after the raising one, so it sits in the middle of the call order.
    first = plugin(Sequence(), "sequence-first")
    plugin(Raises(), "raiser")
    last = plugin(Sequence(), "sequence-last")
    assert isinstance(first, Sequence)
    assert isinstance(last, Sequence)

    result = tasks.generate_report.enqueue("c1")
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.COMPLETED
    assert row.result == {"ok": True, "dataset_id": "c1", "file_path": "/reports/c1.pdf"}
    assert first.events == last.events
    assert first.events[0] == "enqueue_metadata"
    assert first.events[-2:] == ["notify:completed", "context:exit"]
    assert "context:enter" in first.events
    assert "context:exit" in first.events

    failed = tasks.always_fails.enqueue("still fails")
    assert TaskExecution.objects.get(pk=failed.id).status == Status.FAILED
    assert first.events[-3:] == last.events[-3:] == ["fail:final", "notify:failed", "context:exit"]

    assert registered_backends()["sync"] == "rail_tasks.backends.sync.SyncBackend"

    plugin_records = [r for r in caplog.records if r.name == "rail_tasks.plugins"]
    broken = {r.getMessage() for r in plugin_records}
    for hook in ("enqueue_metadata", "enqueue", "start", "execution_context", "progress", "complete", "fail", "notify"):
        assert any("'raiser'" in m and f"rail_tasks_{hook}" in m for m in broken), hook
    assert all(r.exc_info is not None for r in plugin_records)  # the plugin's traceback is in the log


def test_context_manager_failing_on_enter_or_exit_is_contained(plugin: Register, caplog: Any) -> None:
    class BadEnter:
        def __enter__(self) -> None:
            raise RuntimeError("enter broke")

        def __exit__(self, *exc: Any) -> None:
            raise AssertionError("never entered, never exited")

    class BadExit:
        def __enter__(self) -> None:
            return None

        def __exit__(self, *exc: Any) -> None:
            raise RuntimeError("exit broke")

    class Traces:
        @hookimpl
        def rail_tasks_execution_context(self) -> Any:
            return BadEnter()

    class Traces2:
        @hookimpl
        def rail_tasks_execution_context(self) -> Any:
            return BadExit()

    plugin(Traces(), "bad-enter")
    plugin(Traces2(), "bad-exit")
    result = tasks.add.enqueue(20, 22)
    assert TaskExecution.objects.get(pk=result.id).result == 42
    messages = [r.getMessage() for r in caplog.records if r.name == "rail_tasks.plugins"]
    assert any("'bad-enter'" in m and "entering" in m for m in messages)
    assert any("'bad-exit'" in m and "leaving" in m for m in messages)


def test_context_manager_reraising_the_task_error_is_not_a_plugin_failure(plugin: Register, caplog: Any) -> None:
    class Reraises:
        def __enter__(self) -> None:
            return None

        def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
            if exc is not None:
                raise exc

    class Traces:
        @hookimpl
        def rail_tasks_execution_context(self) -> Any:
            return Reraises()

    plugin(Traces(), "reraises")
    result = tasks.always_fails.enqueue("own error")
    assert TaskExecution.objects.get(pk=result.id).error == "own error"
    assert not [r for r in caplog.records if r.name == "rail_tasks.plugins"]


# ---------------------------------------------------------------------------
# Hooks of the engine kit (0.2)
# ---------------------------------------------------------------------------


def test_hook_submitted(plugin: Register) -> None:
    seen: list[tuple[str, str, str]] = []

    class Submitted:
        @hookimpl
        def rail_tasks_submitted(self, execution: TaskExecution, message_id: str) -> None:
            seen.append((str(execution.id), message_id, db_status(execution)))

    plugin(Submitted(), "submitted")
    with transaction.atomic():
        waiting = tasks.add.using(backend="database").enqueue(1, 2)
        assert seen == [], "fired before the transaction committed"
    assert seen == [(waiting.id, waiting.id, "pending")]  # the row is the database backend's message

    seen.clear()
    with transaction.atomic():
        tasks.add.using(backend="database").enqueue(3, 4)
        transaction.set_rollback(True)
    assert seen == [], "fired for a rolled-back enqueue"


def test_hook_worker_start(plugin: Register) -> None:
    from rail_tasks.engine import process

    started: list[str] = []

    class Starts:
        @hookimpl
        def rail_tasks_worker_start(self, worker_id: str) -> None:
            started.append(worker_id)

    plugin(Starts(), "starts")
    pid = os.getpid()
    saved = process._started.pop(pid, None), pid in process._stopped
    try:
        process.worker_started("w-1")
        process.worker_started("w-1 again")  # once per process
        assert started == ["w-1"]
    finally:
        process._started.pop(pid, None)
        process._stopped.discard(pid)
        if saved[0] is not None:
            process._started[pid] = saved[0]


def test_hook_worker_stop(plugin: Register) -> None:
    from rail_tasks.engine import process

    stopped: list[str] = []

    class Stops:
        @hookimpl
        def rail_tasks_worker_stop(self, worker_id: str) -> None:
            stopped.append(worker_id)

    plugin(Stops(), "stops")
    pid = os.getpid()
    try:
        process.worker_stopping()
        assert stopped == []  # never started here
        process.worker_started("w-2")
        process.worker_stopping()
        process.worker_stopping()
        assert stopped == ["w-2"]
    finally:
        process._started.pop(pid, None)
        process._stopped.discard(pid)


def test_hook_cancel_requested(plugin: Register) -> None:
    seen: list[tuple[str, bool]] = []

    class Requested:
        @hookimpl
        def rail_tasks_cancel_requested(self, execution: TaskExecution) -> None:
            seen.append((execution.status, execution.cancel_requested))

    plugin(Requested(), "requested")
    waiting = tasks.add.using(backend="database").enqueue(1, 1)
    rail_tasks.cancel_execution(waiting.id)
    assert seen == []  # a waiting execution is cancelled at once: rail_tasks_cancel only
    running = tasks.computes_until_stopped.using(backend="thread").enqueue(30)
    wait_for(running.id, Status.RUNNING)
    rail_tasks.cancel_execution(running.id)
    assert seen == [("running", True)]
    wait_for(running.id, Status.CANCELLED)


def test_hook_enqueue_metadata_on_a_manual_retry(plugin: Register) -> None:
    calls: list[Any] = []

    class Context:
        @hookimpl
        def rail_tasks_enqueue_metadata(self, retry_of: TaskExecution | None) -> dict[str, Any]:
            calls.append(None if retry_of is None else dict(retry_of.metadata))
            return {"trace": f"t{len(calls)}"}

    plugin(Context(), "context")
    failed = tasks.always_fails.enqueue("once")
    assert TaskExecution.objects.get(pk=failed.id).metadata["trace"] == "t1"
    rail_tasks.retry_execution(failed.id)
    assert calls[0] is None
    assert calls[1]["trace"] == "t1"  # the retry sees the old context...
    assert TaskExecution.objects.get(pk=failed.id).metadata["trace"] == "t2"  # ...and carries fresh context


def _protocol() -> list[str]:
    """The worker's hook order for a completed attempt, as hookspecs.py's docstring writes it."""
    doc = hookspecs.__doc__ or ""
    block = doc[doc.index("Worker, one attempt") : doc.index("An outcome recorded outside")]
    order: list[str] = []
    for raw in block.splitlines():
        line = raw.strip()
        if line.startswith(("|", "the task function")):
            continue  # the alternatives to a completion; progress (none in this run)
        for event, hook in re.findall(r'(?:rail_tasks_)?notify\("(\w+)"\)|rail_tasks_(\w+)', line):
            if event:
                order.append(f"notify:{event}")
            elif hook == "execution_context":
                order.append("context:enter" if "entered" in line else "context:exit")
            else:
                order.append(hook)
    return order


def test_hook_protocol_is_the_one_hookspecs_writes(plugin: Register) -> None:
    """The order of hooks in one attempt, as run, is the one hookspecs.py's module docstring writes down."""
    sequence = plugin(Sequence(), "sequence")
    assert isinstance(sequence, Sequence)
    tasks.add.using(backend="thread").enqueue(1, 2)
    result = TaskExecution.objects.order_by("-created_at").first()
    assert result is not None
    wait_for(result.pk, Status.COMPLETED)
    deadline = time.monotonic() + 5
    while "context:exit" not in sequence.events and time.monotonic() < deadline:
        time.sleep(0.01)
    worker = [e for e in sequence.events if e not in {"enqueue_metadata", "enqueue", "notify:enqueued", "submitted"}]
    assert worker == _protocol()
