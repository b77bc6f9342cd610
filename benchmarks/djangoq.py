"""rail-tasks on Django-Q2 vs plain ``async_task``, on the ORM broker (PostgreSQL) and the Redis broker.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, Redis on 127.0.0.1:6379)::

    python -m benchmarks.djangoq                  # both brokers, 2,000 no-op tasks, workers=2
    python -m benchmarks.djangoq --broker redis --count 1000

For each broker, four variants of one function (``tests/taskapp/tasks_djangoq.py``),
each drained by its own ``qcluster`` (``workers=2``, timeout 60, retry 90,
``ack_failures``): ``rail`` (tracked in ``TaskExecution``), plain ``async_task``
as Django-Q2 runs it by default (a ``Success`` row per task), plain with
``save=False`` (rail's own message options), and ``floor``: that last one plus
the claim and the outcome of a ``TaskExecution`` row as two raw ``UPDATE``s,
the fastest any tracked execution could be. For each:

* enqueue: ``count`` calls while no cluster consumes (per-call p50/p99, calls/s);
* drain: the cluster starts; time from its "running" line until the last task ran;
* pickup: 200 single tasks on the idle cluster, from the enqueue call's return to
  the function's first line (p50/p99).

Only the core and rail-tasks-djangoq are active in the cluster (no GraphQL
events, no test recorder), and it keeps its database connection
(``CONN_MAX_AGE``), as deployments do.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import rates, setup_django

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RUN = uuid.uuid4().hex[:8]
REDIS = "redis://127.0.0.1:6379/11"
ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "RAIL_TASKS_TEST_DB": "postgres",
    "RAIL_TASKS_TEST_PG_NAME": os.environ.get("RAIL_BENCH_PG_NAME", "bench_rail_djangoq"),
    "RAIL_TASKS_TEST_DJANGOQ": "1",
    "RAIL_TASKS_TEST_DJANGOQ_RUN": RUN,
    "RAIL_BENCH_REDIS": REDIS,
    "RAIL_BENCH": "1",
}
PLAIN = "tests.taskapp.tasks_djangoq.plain_noop"
FLOOR = "tests.taskapp.tasks_djangoq.tracking_floor"


class Cluster:
    """``python -m django qcluster`` for one cluster name."""

    def __init__(self, name: str) -> None:
        self.log = Path(f"/tmp/bench-djangoq-{name}.log")
        env = {**os.environ, **ENV, "PYTHONPATH": str(REPO), "Q_CLUSTER_NAME": name}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "django", "qcluster"], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_running(self) -> None:
        deadline = time.monotonic() + 60
        while b" running." not in self.log.read_bytes():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(self.log.read_text())
            time.sleep(0.005)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def measure(name: str, count: int, send: Callable[[str, str], None]) -> dict[str, float]:
    """Enqueue ``count`` for cluster ``bench-<run>-<name>`` (not running), drain them, then sample pickup."""
    from django.db import close_old_connections

    from tests.taskapp.tasks_djangoq import bench_redis

    redis = bench_redis()
    cluster, key = f"bench-{RUN}-{name}", f"bench:{RUN}:{name}"
    latencies = []
    print(f"{name}: enqueue {count}", flush=True)
    began = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        send(cluster, key)
        latencies.append(time.perf_counter() - start)
    enqueue_seconds = time.perf_counter() - began
    close_old_connections()

    worker = Cluster(cluster)
    try:
        worker.wait_running()
        started = time.perf_counter()
        deadline = time.monotonic() + 900
        while int(redis.get(key) or 0) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: only {redis.get(key)} of {count} ran")
            time.sleep(0.002)
        drain_seconds = time.perf_counter() - started
        print(f"{name}: drained in {drain_seconds:.2f}s; pickup samples", flush=True)
        pickups = []
        stamp = f"{key}:stamp"
        for _ in range(200):
            send(cluster, stamp)
            sent = time.time()
            popped = redis.blpop([stamp], timeout=30)
            if popped is None:
                raise RuntimeError(f"{name}: a pickup sample never ran")
            pickups.append(float(popped[1]) - sent)
    finally:
        worker.stop()
    return rates(count, enqueue_seconds, latencies, drain_seconds, pickups)


def run_broker(broker: str, count: int) -> None:
    """All variants on one broker (this process's ``Q_CLUSTER`` names it)."""
    os.environ["RAIL_BENCH_DJANGOQ_BROKER"] = broker
    setup_django(ENV)
    from django_q.tasks import async_task

    from rail_tasks import TaskExecution
    from tests.taskapp.tasks_djangoq import bench_noop

    TaskExecution.objects.all().delete()
    floor_rows = TaskExecution.objects.bulk_create(
        TaskExecution(name="tracking_floor", task_path="-", backend="bench_floor") for _ in range(count + 200)
    )
    floor_ids = iter([str(row.pk) for row in floor_rows])
    quiet = {"save": False, "ack_failure": True}  # the message options rail's backend sends with
    variants: dict[str, tuple[str, Callable[[str, str], None]]] = {
        "rail-tasks on Django-Q2": (
            "rail",
            lambda cluster, key: bench_noop.using(backend="django_q", queue_name=cluster).enqueue(key) and None,
        ),
        "plain async_task (Success rows, default)": (
            "plain",
            lambda cluster, key: async_task(PLAIN, key, cluster=cluster) and None,
        ),
        "plain async_task, save=False": (
            "quiet",
            lambda cluster, key: async_task(PLAIN, key, cluster=cluster, **quiet) and None,
        ),
        "tracking floor: save=False + 2 raw UPDATEs": (
            "floor",
            lambda cluster, key: async_task(FLOOR, key, next(floor_ids), cluster=cluster, **quiet) and None,
        ),
    }
    rows = {title: measure(name, count, send) for title, (name, send) in variants.items()}
    tracked = TaskExecution.objects.filter(status="completed").exclude(backend="bench_floor").count()
    print(f"\n{count} no-op tasks, Django-Q2 {broker.upper()} broker, workers=2")
    columns = ("enqueue/s", "enq p50 ms", "enq p99 ms", "drain/s", "pickup p50", "pickup p99")
    header = f"{'variant':42} " + " ".join(f"{c:>10}" for c in columns)
    print(header)
    print("-" * len(header))
    for title, r in rows.items():
        print(
            f"{title:42} {r['enqueue_per_s']:10.0f} {r['enqueue_p50_ms']:10.2f} {r['enqueue_p99_ms']:10.2f} "
            f"{r['drain_per_s']:10.0f} {r['pickup_p50_ms']:10.2f} {r['pickup_p99_ms']:10.2f}"
        )
    rail, floor = rows["rail-tasks on Django-Q2"]["drain_per_s"], rows[list(rows)[-1]]["drain_per_s"]
    plain = rows["plain async_task (Success rows, default)"]["drain_per_s"]
    print(f"\nrail drain / tracking floor: {rail / floor:.2f}x (target >= 0.9x); / plain default: {rail / plain:.2f}x")
    print(f"executions tracked as completed in TaskExecution: {tracked}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", choices=["orm", "redis", "both"], default="both")
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    if args.broker != "both":
        run_broker(args.broker, args.count)
        return
    for broker in ("orm", "redis"):  # one process per broker: Django-Q2 reads its settings once per process
        command = [sys.executable, "-m", "benchmarks.djangoq", "--broker", broker, "--count", str(args.count)]
        subprocess.run(command, cwd=REPO, check=True)  # each with its own run id: counters and clusters apart


if __name__ == "__main__":
    main()
