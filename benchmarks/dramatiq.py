"""rail-tasks on Dramatiq vs the same function as a plain Dramatiq actor, side by side.

Run from the repository root (PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379)::

    python -m benchmarks.dramatiq            # 2,000 no-op tasks, 2 worker processes

One Redis (DB 9, a namespace per run), one ``dramatiq`` command of 2 worker
processes per row, in two shapes: 1 thread per process, and Dramatiq's defaults
(8 threads, prefetch twice the threads). Variants: ``rail`` (tracked in
``TaskExecution``), ``plain`` (a plain actor, Dramatiq's default options) and
the **tracking floor**: the plain actor plus the two writes no tracking can do
without (claim and outcome of a ``TaskExecution`` row as raw SQL). For each:

* enqueue: 2,000 calls before the worker consumes (per-call p50/p99, calls/s);
* drain: the worker processes wait at a gate until all are up; from the go
  until the last task ran;
* pickup: 200 single tasks on an idle worker, from ``enqueue()``'s return to
  the task function's first line (p50/p99).

Workers run as docs/dramatiq.md recommends (``CONN_MAX_AGE`` keeps each
thread's connection); only the core and rail-tasks-dramatiq are active, as
after ``pip install rail-tasks[dramatiq]``.
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
from typing import Any

from benchmarks.common import percentile, rates, setup_django

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script: keep this file from shadowing the dramatiq package
sys.path.insert(0, str(REPO))

RUN = uuid.uuid4().hex[:8]
REDIS = "redis://127.0.0.1:6379/9"
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "RAIL_TASKS_TEST_DB": "postgres",
    "RAIL_TASKS_TEST_PG_NAME": os.environ.get("RAIL_BENCH_PG_NAME", "bench_rail_dramatiq"),
    "RAIL_TASKS_TEST_DRAMATIQ_REDIS": REDIS,
    "RAIL_TASKS_TEST_DRAMATIQ_RUN": RUN,
    "RAIL_TASKS_DRAMATIQ_ALIASES": "dramatiq",
    "RAIL_BENCH_REDIS": REDIS,
    "RAIL_BENCH": "1",
}


class Worker:
    """``python -m dramatiq rail_tasks_dramatiq.worker tests.rail_tasks_dramatiq.bench_actors``, held at the gate."""

    def __init__(self, processes: int, threads: int | None, redis: Any) -> None:
        self.redis = redis
        self.processes = processes
        redis.delete(f"bench:{RUN}:go", f"bench:{RUN}:ready")
        command = [
            sys.executable, "-m", "dramatiq", "rail_tasks_dramatiq.worker", "tests.rail_tasks_dramatiq.bench_actors",
            "--processes", str(processes),
        ]  # fmt: skip
        if threads is not None:
            command += ["--threads", str(threads)]
        env = {**os.environ, **ENV, "PYTHONPATH": str(REPO)}
        self.log = Path(f"/tmp/bench-dramatiq-{RUN}.log")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)

    def wait_at_gate(self) -> None:
        deadline = time.monotonic() + 60
        while self.redis.scard(f"bench:{RUN}:ready") < self.processes:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.01)

    def go(self) -> None:
        self.redis.set(f"bench:{RUN}:go", 1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def measure(name: str, count: int, send: Callable[[str], None], worker: Worker, redis: Any) -> dict[str, float]:
    """Enqueue ``count`` while the worker waits at the gate, drain them, then measure pickup on the idle worker."""
    from django.db import close_old_connections

    key = f"bench:{RUN}:{name}"
    latencies = []
    print(f"{name}: enqueue {count}", flush=True)
    worker.wait_at_gate()
    began = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        send(key)
        latencies.append(time.perf_counter() - start)
    enqueue_seconds = time.perf_counter() - began
    close_old_connections()

    started = time.perf_counter()
    worker.go()
    deadline = time.monotonic() + 600
    while int(redis.get(key) or 0) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: only {redis.get(key)} of {count} ran")
        time.sleep(0.002)
    drain_seconds = time.perf_counter() - started

    print(f"{name}: drained in {drain_seconds:.2f}s; pickup samples", flush=True)
    time.sleep(2)  # idle: the consumers back off as they do between bursts
    pickups = []
    stamp = f"{key}:stamp"
    for _ in range(200):
        send(stamp)
        sent = time.time()
        popped = redis.blpop([stamp], timeout=30)
        if popped is None:
            raise RuntimeError(f"{name}: a pickup sample never ran")
        pickups.append(float(popped[1]) - sent)
    return rates(count, enqueue_seconds, latencies, drain_seconds, pickups)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    setup_django(ENV)

    import dramatiq
    from django.tasks import task_backends

    from rail_tasks import TaskExecution

    dramatiq.set_broker(task_backends["dramatiq"].broker)  # type: ignore[attr-defined]  # the bench actors' too
    from tests.rail_tasks_dramatiq.bench_actors import client, plain_noop, tracking_floor
    from tests.taskapp.tasks_dramatiq import bench_noop

    redis = client()
    TaskExecution.objects.all().delete()
    rail = bench_noop.using(backend="dramatiq")

    def rail_send(key: str) -> None:
        rail.enqueue(key)

    def plain_send(key: str) -> None:
        plain_noop.send(key)

    floor_rows = TaskExecution.objects.bulk_create(
        TaskExecution(name="tracking_floor", task_path="-", backend="bench_floor")
        for _ in range(2 * (args.count + 200))
    )
    floor_ids = iter([str(row.pk) for row in floor_rows])

    def floor_send(key: str) -> None:
        tracking_floor.send(key, next(floor_ids))

    inserts = []  # the enqueue target is "plain Dramatiq + one INSERT + at most 1 ms": measure the INSERT here
    for _ in range(500):
        start = time.perf_counter()
        TaskExecution.objects.create(name="insert_probe", task_path="-", backend="bench_floor", args=["key"])
        inserts.append(time.perf_counter() - start)
    insert_p50 = percentile(inserts, 50) * 1000

    rows: dict[str, dict[str, float]] = {}
    for shape, threads in (("1 thread", 1), ("defaults", None)):
        for name, send in (("rail-tasks on Dramatiq", rail_send), ("plain actor", plain_send), ("floor", floor_send)):
            worker = Worker(args.processes, threads, redis)
            try:
                label = f"{name}, {shape}"
                rows[label] = measure(label.replace(" ", "_").replace(",", ""), args.count, send, worker, redis)
            finally:
                worker.stop()
    tracked = TaskExecution.objects.filter(status="completed").exclude(backend="bench_floor").count()
    for key in [*redis.scan_iter(match=f"bench:{RUN}:*"), *redis.scan_iter(match=f"rt-{RUN}*")]:
        redis.delete(key)
    print(f"\n{args.count} no-op tasks, {args.processes} worker processes, Redis broker")
    columns = ("enqueue/s", "enq p50 ms", "enq p99 ms", "drain/s", "pickup p50", "pickup p99")
    header = f"{'variant':34} " + " ".join(f"{c:>10}" for c in columns)
    print(header)
    print("-" * len(header))
    for name, r in rows.items():
        print(
            f"{name:34} {r['enqueue_per_s']:10.0f} {r['enqueue_p50_ms']:10.2f} {r['enqueue_p99_ms']:10.2f} "
            f"{r['drain_per_s']:10.0f} {r['pickup_p50_ms']:10.2f} {r['pickup_p99_ms']:10.2f}"
        )
    for shape in ("1 thread", "defaults"):
        rail_drain = rows[f"rail-tasks on Dramatiq, {shape}"]["drain_per_s"]
        plain_drain = rows[f"plain actor, {shape}"]["drain_per_s"]
        floor_drain = rows[f"floor, {shape}"]["drain_per_s"]
        print(
            f"{shape}: rail / plain drain {rail_drain / plain_drain:.2f}x; rail / tracking floor "
            f"{rail_drain / floor_drain:.2f}x (target >= 0.9x); floor / plain {floor_drain / plain_drain:.2f}x"
        )
    plain_p50 = rows["plain actor, 1 thread"]["enqueue_p50_ms"]
    rail_p50 = rows["rail-tasks on Dramatiq, 1 thread"]["enqueue_p50_ms"]
    print(
        f"enqueue p50: rail {rail_p50:.2f} ms; target plain {plain_p50:.2f} + one INSERT "
        f"{insert_p50:.2f} + 1 ms = {plain_p50 + insert_p50 + 1:.2f} ms"
    )
    print(f"executions tracked as completed in TaskExecution: {tracked}")


if __name__ == "__main__":
    main()
