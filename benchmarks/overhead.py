"""CPU the core spends per execution on a worker, measured in-process (no worker processes, no broker).

Run from the repository root (PostgreSQL on 127.0.0.1:5432)::

    python -m benchmarks.overhead               # 2,000 executions per line
    python -m benchmarks.overhead --profile     # and the top of a cProfile of each

Each line runs the same trivial task (``tests.taskapp.tasks.add``) the way one
engine's worker does, and prints CPU milliseconds per execution of this process
(``time.process_time``: the database server's own time is not in it) and wall
milliseconds (with the round trips):

* database worker: :func:`rail_tasks.runner.run_claimed_execution` on rows the
  supervisor claimed in batches (the claim is measured on its own line, per row);
* Celery: the body of rail-tasks-celery's task (claim by id, run, connection
  hygiene, the delivery bookkeeping) on ``celery`` rows, and
  :func:`rail_tasks.run_execution` alone;
* the same Celery body with ``CONN_HEALTH_CHECKS`` off, to show what the
  per-execution ``SELECT 1`` costs, and with the ``django.tasks`` logger at
  WARNING (Django logs every start and finish at INFO).

Database ``bench_rail_overhead`` (``RAIL_BENCH_PG_NAME``), created if missing.
This is the "engine-kit overhead" figure: re-run it after the kit changes.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)  # run as a script: keep this folder's celery.py from shadowing the celery package
sys.path.insert(0, str(REPO))

ENV = {
    "DJANGO_SETTINGS_MODULE": "tests.settings",
    "RAIL_TASKS_TEST_DB": "postgres",
    "RAIL_TASKS_TEST_PG_NAME": os.environ.get("RAIL_BENCH_PG_NAME", "bench_rail_overhead"),
    "RAIL_TASKS_TEST_CELERY_RUN": uuid.uuid4().hex[:8],
    "RAIL_BENCH": "1",  # production-like settings: persistent connections with health checks, no test plugins
}


def _setup() -> None:
    os.environ.update(ENV)
    import psycopg

    name = ENV["RAIL_TASKS_TEST_PG_NAME"]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _rows(backend: str, count: int) -> list[str]:
    from rail_tasks import TaskExecution

    rows = TaskExecution.objects.bulk_create(
        TaskExecution(name="add", task_path="tests.taskapp.tasks.add", backend=backend, args=[1, 2])
        for _ in range(count)
    )
    return [str(row.pk) for row in rows]


def _measure(label: str, items: list[Any], run: Callable[[Any], object], profile: bool) -> dict[str, float]:
    """Time ``run`` on most of ``items``; count Python function calls on the rest (a load-independent figure)."""
    counted = max(50, len(items) // 10)
    timed, items = items[:-counted], items[-counted:]
    cpu, wall = [], []
    for item in timed:
        c0, w0 = time.process_time(), time.perf_counter()
        run(item)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    profiler = cProfile.Profile()
    profiler.enable()
    for item in items:
        run(item)
    profiler.disable()
    stats = pstats.Stats(profiler)
    if profile:
        print(f"\n--- {label}: cProfile, by own time")
        stats.sort_stats("tottime").print_stats(18)
    # process_time ticks coarsely on some systems: the mean over many is the figure.
    return {
        "cpu_ms": sum(cpu) / len(cpu) * 1000,
        "wall_ms": statistics.median(wall) * 1000,
        "wall_mean_ms": sum(wall) / len(wall) * 1000,
        "calls": stats.total_calls / len(items),  # type: ignore[attr-defined]
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each line")
    args = parser.parse_args()
    _setup()

    from django.db import connection

    from rail_tasks import TaskExecution, run_execution
    from rail_tasks.backends.database.claim import claim_batch
    from rail_tasks.runner import run_claimed_execution

    TaskExecution.objects.all().delete()
    results: dict[str, dict[str, float]] = {}
    count = args.count

    # The database worker: claim in batches of 16 (as the supervisor does for short tasks), run each.
    _rows("database", count)
    claimed: list[Any] = []
    claim_cpu = 0.0
    while len(claimed) < count:
        c0 = time.process_time()
        batch = claim_batch(
            using="default", backends=["database"], queues=[], limit=16, worker_id="bench:1", lease_seconds=60
        )
        claim_cpu += time.process_time() - c0
        claimed.extend(batch)
    results["database worker: run_claimed_execution"] = _measure(
        "database worker", claimed, run_claimed_execution, args.profile
    )
    results["database worker: claim, per row (batches of 16)"] = {"cpu_ms": claim_cpu / count * 1000}

    # Celery: the generic task's body, as a prefork child runs it.
    from rail_tasks_celery.worker import run_execution_task

    def celery_body(execution_id: str) -> None:
        run_execution_task.push_request(id=str(uuid.uuid4()), hostname="bench@host", delivery_info={})
        try:
            run_execution_task.run(execution_id, 60.0, 10.0)
        finally:
            run_execution_task.pop_request()

    results["Celery: rail's task body"] = _measure("Celery body", _rows("celery", count), celery_body, args.profile)

    def core_only(execution_id: str) -> None:
        run_execution(execution_id, worker_id=f"{uuid.uuid4()}@host", lease_seconds=60)

    results["Celery: run_execution alone"] = _measure("run_execution", _rows("celery", count), core_only, False)

    connection.close()
    connection.settings_dict["CONN_HEALTH_CHECKS"] = False
    results["Celery: task body, CONN_HEALTH_CHECKS off"] = _measure(
        "Celery body, no health checks", _rows("celery", count), celery_body, False
    )
    connection.settings_dict["CONN_HEALTH_CHECKS"] = True

    # Django's own receivers log every start and finish at INFO on "django.tasks"; Django's default
    # logging enables INFO for "django", so two records are made (and filtered out) per execution.
    django_tasks = logging.getLogger("django.tasks")
    level = django_tasks.level
    django_tasks.setLevel(logging.WARNING)
    results["Celery: task body, django.tasks logger at WARNING"] = _measure(
        "Celery body, django.tasks at WARNING", _rows("celery", count), celery_body, False
    )
    django_tasks.setLevel(level)

    TaskExecution.objects.all().delete()
    print(f"\n{count} executions of a trivial task per line; CPU of this process, wall with the round trips,")
    print("and Python function calls per execution (does not move with the machine's load)")
    print(f"{'':52} {'CPU ms':>8} {'wall p50':>9} {'wall mean':>10} {'calls':>7}")
    for label, numbers in results.items():
        rest = ""
        if "wall_ms" in numbers:
            rest = f"{numbers['wall_ms']:9.3f} {numbers['wall_mean_ms']:10.3f} {numbers['calls']:7.0f}"
        print(f"{label:52} {numbers['cpu_ms']:8.3f} {rest}")


if __name__ == "__main__":
    main()
