"""rail-tasks on Celery vs the same function as a plain Celery task, side by side.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379)::

    python -m benchmarks.celery            # 2,000 no-op tasks, worker concurrency 2

Five variants share one prefork worker (concurrency 2) and one Redis (DB 2, or ``RAIL_BENCH_REDIS``;
PostgreSQL database ``RAIL_BENCH_PG_NAME``, default ``bench_rail_celery``):
``rail`` (tracked in ``TaskExecution``, no Celery result), ``plain`` (result
backend off), ``plain+results`` (results stored in Redis), ``plain_late``
(``acks_late`` and ``reject_on_worker_lost``, the at-least-once options rail's
task runs with, no results) and ``floor``: ``plain_late`` plus the two writes
no tracking can do without (claim and outcome of a ``TaskExecution`` row, raw
SQL, nothing else), the fastest any tracked execution could be. For each:

* enqueue: 2,000 calls while no worker consumes the queue (per-call p50/p99, calls/s);
* drain: the worker starts consuming those 2,000; time until the last one ran;
* pickup: 200 single tasks on an idle worker, from the enqueue call's return to
  the function's first line (p50/p99).

The worker runs as docs/celery.md recommends: ``CELERY_DB_REUSE_MAX`` and
``CONN_MAX_AGE`` keep its database connection between tasks; only the core and
rail-tasks-celery are active (no GraphQL events, no test recorder), as after
``pip install rail-tasks[celery]``. ``--sleep-ms 10`` gives the task body some
work, to see the overhead on tasks that do something.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import percentile, rates, setup_django

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script: keep this file from shadowing the celery package
sys.path.insert(0, str(REPO))

RUN = uuid.uuid4().hex[:8]
REDIS = os.environ.get("RAIL_BENCH_REDIS", "redis://127.0.0.1:6379/2")
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "RAIL_TASKS_TEST_DB": "postgres",
    "RAIL_TASKS_TEST_PG_NAME": os.environ.get("RAIL_BENCH_PG_NAME", "bench_rail_celery"),
    "RAIL_TASKS_TEST_CELERY_REDIS": REDIS,
    "RAIL_TASKS_TEST_CELERY_RESULT_BACKEND": REDIS,
    "RAIL_TASKS_TEST_CELERY_RUN": RUN,
    "RAIL_BENCH_REDIS": REDIS,
    "RAIL_BENCH": "1",
}


class Worker:
    """The prefork worker, consuming only an idle queue until told otherwise."""

    def __init__(self, concurrency: int, prefetch: int) -> None:
        path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH", "")]))
        env = {**os.environ, **ENV, "PYTHONPATH": path, "CELERY_WORKER_PREFETCH_MULTIPLIER": str(prefetch)}
        command = [
            sys.executable, "-m", "celery", "-A", "tests.rail_tasks_celery.celery_app:app", "worker",
            "-P", "prefork", "-c", str(concurrency), "-Q", f"bench-{RUN}-idle", "-n", f"bench-{RUN}@%h",
            "--prefetch-multiplier", str(prefetch), "--include", "tests.taskapp.tasks_celery",
            "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
        ]  # fmt: skip
        self.log = Path(f"/tmp/bench-celery-{RUN}.log")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def wait_ready(self, app: object) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if app.control.ping(timeout=0.5):  # type: ignore[attr-defined]
                return
        raise RuntimeError(self.log.read_text())

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def measure(
    name: str, queue: str, count: int, send: Callable[[str], None], app: object, redis: object
) -> dict[str, float]:
    """Enqueue ``count`` into ``queue`` (not consumed yet), drain it, then measure pickup on an idle worker."""
    from django.db import close_old_connections

    key = f"bench:{RUN}:{name}"
    latencies = []
    print(f"{name}: enqueue {count}", flush=True)
    began = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        send(key)
        latencies.append(time.perf_counter() - start)
    enqueue_seconds = time.perf_counter() - began
    close_old_connections()

    started = time.perf_counter()
    app.control.add_consumer(queue, reply=True, destination=[f"bench-{RUN}@{os.uname().nodename}"])  # type: ignore[attr-defined]
    deadline = time.monotonic() + 600
    while int(redis.get(key) or 0) < count:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: only {redis.get(key)} of {count} ran")  # type: ignore[attr-defined]
        time.sleep(0.002)
    drain_seconds = time.perf_counter() - started

    print(f"{name}: drained in {drain_seconds:.2f}s; pickup samples", flush=True)
    pickups = []
    stamp = f"{key}:stamp"
    for _ in range(200):
        send(stamp)
        sent = time.time()
        popped = redis.blpop([stamp], timeout=30)  # type: ignore[attr-defined]
        if popped is None:
            raise RuntimeError(f"{name}: a pickup sample never ran")
        _, value = popped
        pickups.append(float(value) - sent)
    return rates(count, enqueue_seconds, latencies, drain_seconds, pickups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--prefetch", type=int, default=1, help="worker prefetch multiplier (rail recommends 1)")
    parser.add_argument("--sleep-ms", type=float, default=0, help="task body sleeps this long (0: a no-op)")
    args = parser.parse_args()
    os.environ["RAIL_BENCH_SLEEP_MS"] = str(args.sleep_ms)  # read by the worker's task body
    setup_django(ENV)

    from rail_tasks import TaskExecution
    from tests.rail_tasks_celery.bench_redis import client
    from tests.rail_tasks_celery.celery_app import app
    from tests.taskapp.tasks_celery import bench_noop, plain_noop, plain_noop_late, tracking_floor

    redis = client()
    TaskExecution.objects.all().delete()
    rail = bench_noop.using(backend="celery")
    rail = rail.using(queue_name="rail")  # the backend sends it to Celery queue rt-<run>-rail

    def rail_send(key: str) -> None:
        rail.enqueue(key)

    plain = app.tasks[plain_noop.name]  # this app's copy (another app may be current here)

    def plain_send(key: str) -> None:
        plain.apply_async((key,), queue=f"bench-{RUN}-plain", ignore_result=True)

    def results_send(key: str) -> None:
        plain.apply_async((key,), queue=f"bench-{RUN}-plain_results", ignore_result=False)

    late = app.tasks[plain_noop_late.name]

    def late_send(key: str) -> None:
        late.apply_async((key,), queue=f"bench-{RUN}-plain_late", ignore_result=True)

    floor = app.tasks[tracking_floor.name]
    floor_rows = TaskExecution.objects.bulk_create(
        TaskExecution(name="tracking_floor", task_path="-", backend="bench_floor") for _ in range(args.count + 200)
    )
    floor_ids = iter([str(row.pk) for row in floor_rows])

    def floor_send(key: str) -> None:
        floor.apply_async((key, next(floor_ids)), queue=f"bench-{RUN}-floor", ignore_result=True)

    inserts = []  # the enqueue target is "plain Celery + one INSERT + at most 1 ms": measure the INSERT here
    for _ in range(500):
        start = time.perf_counter()
        TaskExecution.objects.create(name="insert_probe", task_path="-", backend="bench_floor", args=["key"])
        inserts.append(time.perf_counter() - start)
    insert_p50 = percentile(inserts, 50) * 1000

    worker = Worker(args.concurrency, args.prefetch)
    rows = {}
    try:
        worker.wait_ready(app)
        rows["rail-tasks on Celery"] = measure("rail", f"rt-{RUN}-rail", args.count, rail_send, app, redis)
        rows["plain Celery, results off"] = measure("plain", f"bench-{RUN}-plain", args.count, plain_send, app, redis)
        rows["plain Celery, results on (Redis)"] = measure(
            "plain_results", f"bench-{RUN}-plain_results", args.count, results_send, app, redis
        )
        rows["plain Celery, acks_late, no results"] = measure(
            "plain_late", f"bench-{RUN}-plain_late", args.count, late_send, app, redis
        )
        rows["tracking floor: acks_late + 2 raw UPDATEs"] = measure(
            "floor", f"bench-{RUN}-floor", args.count, floor_send, app, redis
        )
    finally:
        worker.stop()
    tracked = TaskExecution.objects.filter(status="completed").exclude(backend="bench_floor").count()
    body = f"{args.sleep_ms:g} ms tasks" if args.sleep_ms else "no-op tasks"
    print(f"\n{args.count} {body}, prefork concurrency {args.concurrency}, prefetch {args.prefetch}, Redis broker")
    columns = ("enqueue/s", "enq p50 ms", "enq p99 ms", "drain/s", "pickup p50", "pickup p99")
    header = f"{'variant':42} " + " ".join(f"{c:>10}" for c in columns)
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:42} {r['enqueue_per_s']:10.0f} {r['enqueue_p50_ms']:10.2f} {r['enqueue_p99_ms']:10.2f} "
            f"{r['drain_per_s']:10.0f} {r['pickup_p50_ms']:10.2f} {r['pickup_p99_ms']:10.2f}"
        )
    rail = rows["rail-tasks on Celery"]["drain_per_s"]
    base = rows["plain Celery, results on (Redis)"]["drain_per_s"]
    late = rows["plain Celery, acks_late, no results"]["drain_per_s"]
    floor = rows["tracking floor: acks_late + 2 raw UPDATEs"]["drain_per_s"]
    print(f"\nrail drain / plain-with-results drain: {rail / base:.2f}x; / plain acks_late drain: {rail / late:.2f}x")
    print(f"tracking floor / plain-with-results drain: {floor / base:.2f}x; rail / tracking floor: {rail / floor:.2f}x")
    plain_p50 = rows["plain Celery, results on (Redis)"]["enqueue_p50_ms"]
    rail_p50 = rows["rail-tasks on Celery"]["enqueue_p50_ms"]
    print(
        f"enqueue p50: rail {rail_p50:.2f} ms; target plain-with-results {plain_p50:.2f} + one INSERT "
        f"{insert_p50:.2f} + 1 ms = {plain_p50 + insert_p50 + 1:.2f} ms"
    )
    print(f"executions tracked as completed in TaskExecution: {tracked}")


if __name__ == "__main__":
    main()
