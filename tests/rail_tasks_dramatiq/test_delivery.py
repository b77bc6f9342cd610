"""Beyond the kit's recovery suite (test_recovery.py), on real brokers and real ``dramatiq`` commands: busy code
past its timeout, threads, long delays, connections, process hooks, a Redis restart."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.tasks import task_backends
from django.utils import timezone
from dramatiq.brokers.redis import RedisBroker

from rail_tasks import Status, TaskExecution
from rail_tasks.testing import wait_for_status, wait_until
from tests.rail_tasks_dramatiq.conftest import DramatiqWorker
from tests.rail_tasks_dramatiq.process_hooks import EVENTS_ENV
from tests.rail_tasks_dramatiq.settings_extra import run_id
from tests.taskapp import tasks_dramatiq as tasks
from tests.taskapp.models import Ledger

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

StartWorker = Callable[..., DramatiqWorker]
BROKERS = ["dramatiq", "dramatiq_amqp"]


def _started(execution_id: str, count: int = 1) -> list[Ledger]:
    return wait_until(
        lambda: (
            (rows := list(Ledger.objects.filter(execution_id=execution_id, event="start").order_by("attempt")))
            and len(rows) >= count
            and rows
        ),
        timeout=30,
        message=f"execution {execution_id} did not start {count} time(s)",
    )


@pytest.mark.parametrize("alias", BROKERS)
def test_hard_timeout_stops_busy_code(dramatiq_worker_factory: StartWorker, alias: str) -> None:
    """A task spinning in Python past its timeout (no progress calls) is stopped by the kit: TaskTimeout."""
    dramatiq_worker_factory(alias, threads=2)
    result = tasks.spins_past_timeout.using(backend=alias).enqueue()
    row = wait_for_status(result.id, [Status.FAILED], timeout=30)
    assert row.exception_class == "rail_tasks.exceptions.TaskTimeout"
    assert row.started_at is not None
    assert row.completed_at is not None
    assert (row.completed_at - row.started_at).total_seconds() < 5
    after = tasks.whoami.using(backend=alias).enqueue()
    assert wait_for_status(after.id, [Status.COMPLETED], timeout=15).result == _started(result.id)[0].pid


def test_eight_threads_start_each_of_500_tasks_once(dramatiq_worker_factory: StartWorker) -> None:
    """``--threads 8`` (Dramatiq's default) with 500 tasks: every execution starts exactly once and completes."""
    dramatiq_worker_factory(processes=2, threads=8)
    task = tasks.short_sleep.using(backend="dramatiq")
    ids = [task.enqueue(0.01).id for _ in range(500)]
    wait_until(
        lambda: TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 500,
        timeout=180,
        message="not all 500 executions completed",
    )
    assert set(TaskExecution.objects.filter(pk__in=ids).values_list("attempts", flat=True)) == {1}
    starts = list(Ledger.objects.filter(execution_id__in=ids, event="start").values_list("execution_id", flat=True))
    assert len(starts) == 500
    assert set(starts) == set(ids)


def test_delay_beyond_max_delay_hops_and_runs_once_on_time(dramatiq_worker_factory: StartWorker) -> None:
    """RabbitMQ: a delay past ``max_delay`` (3 s in the tests) travels in hops and runs once, not early."""
    backend = task_backends["dramatiq_amqp"]
    assert backend.max_delay == 3  # type: ignore[attr-defined]
    dramatiq_worker_factory("dramatiq_amqp")
    run_after = timezone.now() + timedelta(seconds=8)
    result = tasks.whoami.using(backend="dramatiq_amqp", run_after=run_after).enqueue()
    time.sleep(4)
    assert TaskExecution.objects.get(pk=result.id).status == Status.PENDING
    row = wait_for_status(result.id, [Status.COMPLETED], timeout=40)
    assert row.started_at is not None
    assert row.started_at >= run_after
    assert row.attempts == 1
    assert Ledger.objects.filter(execution_id=result.id, event="start").count() == 1


def _backend_pids(alias: str, count: int) -> list[int]:
    pids = []
    for _ in range(count):
        result = tasks.database_backend_pid.using(backend=alias).enqueue()
        pids.append(wait_for_status(result.id, [Status.COMPLETED], timeout=30).result)
    return pids


def test_worker_threads_keep_their_connections_with_conn_max_age(dramatiq_worker_factory: StartWorker) -> None:
    """CONN_MAX_AGE: each worker thread keeps its own connection from execution to execution."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("reads pg_backend_pid()")
    dramatiq_worker_factory(threads=1, env={"RAIL_TASKS_TEST_CONN_MAX_AGE": "600"})
    assert len(set(_backend_pids("dramatiq", 4))) == 1


def test_worker_follows_conn_max_age_zero(dramatiq_worker_factory: StartWorker) -> None:
    """Django's default CONN_MAX_AGE=0: each execution closes its connection at the end, like a request."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("reads pg_backend_pid()")
    dramatiq_worker_factory(threads=1)
    assert len(set(_backend_pids("dramatiq", 3))) == 3


def test_process_hooks_fire_once_per_process_and_one_reaper_runs(
    dramatiq_worker_factory: StartWorker, tmp_path: Path
) -> None:
    """Two worker processes: each fires worker_start and worker_stop once; one of them runs the reaper."""
    events = tmp_path / "process-events.jsonl"
    worker = dramatiq_worker_factory(processes=2, threads=2, env={EVENTS_ENV: str(events)})
    assert wait_for_status(tasks.whoami.using(backend="dramatiq").enqueue().id, [Status.COMPLETED], timeout=15)
    worker.stop()
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    starts = sorted(e["pid"] for e in lines if e["event"] == "start")
    stops = sorted(e["pid"] for e in lines if e["event"] == "stop")
    assert len(starts) == 2
    assert starts == stops
    assert worker.output().count("rail-tasks reaper runs in worker process") == 1


# -- Redis restarted with tasks in flight (a private redis-server, never the shared one) ------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRedis:
    """``redis-server`` without persistence on a port of its own, for this test only."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(
            [*command, "--daemonize", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self._ping(), timeout=10, message="private redis-server did not start")

    def _ping(self) -> bool:
        with socket.socket() as sock:
            return sock.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A private Redis, stopped after the test."""
    server = PrivateRedis(_free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def test_redis_restart_with_tasks_in_flight(dramatiq_worker_factory: StartWorker, private_redis: PrivateRedis) -> None:
    """Redis restarts without persistence with 200 tasks queued or running: every one completes, none is stuck."""
    url = f"redis://127.0.0.1:{private_redis.port}/0"
    backend = task_backends["dramatiq"]
    private = RedisBroker(url=url, namespace=f"rt-{run_id()}", heartbeat_timeout=5000)
    shared = backend.__dict__.get("broker")
    backend.__dict__["broker"] = private  # this process sends to the private Redis too
    try:
        workers = [dramatiq_worker_factory(env={"RAIL_TASKS_TEST_DRAMATIQ_REDIS_URL": url})]
        task = tasks.short_sleep.using(backend="dramatiq")
        ids = [task.enqueue(0.05).id for _ in range(200)]
        wait_until(
            lambda: TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() >= 20,
            timeout=30,
            message="the worker never got going",
        )
        private_redis.stop()
        private_redis.start()
        done = TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count()
        assert done < 200, "everything finished before the restart: the test proves nothing"

        def all_completed() -> bool:
            if workers[-1].process is not None and workers[-1].process.poll() is not None:
                workers.append(dramatiq_worker_factory(env={"RAIL_TASKS_TEST_DRAMATIQ_REDIS_URL": url}))
            return TaskExecution.objects.filter(pk__in=ids, status=Status.COMPLETED).count() == 200

        wait_until(all_completed, timeout=120, message="not every execution completed after the Redis restart")
        assert not TaskExecution.objects.filter(pk__in=ids).exclude(status=Status.COMPLETED).exists()
    finally:
        if shared is not None:
            backend.__dict__["broker"] = shared
        else:
            backend.__dict__.pop("broker", None)
        os.environ.pop("RAIL_TASKS_TEST_DRAMATIQ_REDIS_URL", None)
