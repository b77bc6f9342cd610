"""rail-tasks-otel's overhead on the database backend: the same drain without and with the plugin.

Run from the repository root (PostgreSQL on 127.0.0.1:5432, or ``--db sqlite``)::

    python benchmarks/otel.py                       # 2,000 no-op tasks, 3 rounds per variant
    python benchmarks/otel.py --tasks 5000 --rounds 5

Four variants (``benchmarks/otel_settings.py``), in turn, each round: ``off`` (plugin not loaded),
``api`` (plugin loaded, no SDK), ``sdk`` (SDK with a batching processor and an exporter that drops
everything), ``sdk-metrics`` (``sdk`` plus metrics). For each: N ``enqueue()`` calls in this
process (their rate and median latency), then a ``rail_tasks_worker --concurrency 2`` drains them
(first start to last finish, from the rows) and the CPU time its processes used per task (idle
polling included). Then the CPU time of this one process per task, for N ``enqueue()`` calls and for
``run_execution()`` of each in process (the worker's work without the polling: the figures a busy
machine blurs least); last, the CPU time of the plugin's hooks alone for one execution, without a
database. Medians over the rounds; the bracketed change compares with ``off``. The tasks do nothing, so this is the
worst case: any real task body dilutes the difference.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("off", "api", "sdk", "sdk-metrics")


def _env(db: str, variant: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(DJANGO_SETTINGS_MODULE="benchmarks.otel_settings", BENCH_DB=db, BENCH_OTEL=variant)
    env.setdefault("BENCH_SQLITE_PATH", "/tmp/rail-tasks-bench-otel.sqlite3")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _worker_cpu(pid: int) -> float:
    """CPU seconds used so far by the worker's supervisor and its children."""
    import psutil

    total = 0.0
    try:
        supervisor = psutil.Process(pid)
        for process in [supervisor, *supervisor.children(recursive=True)]:
            times = process.cpu_times()
            total += times.user + times.system
    except psutil.NoSuchProcess:
        pass
    return total


def hook_cost(variant: str, count: int = 5000) -> float:
    """CPU microseconds rail-tasks-otel's hooks take for one execution (enqueue, start, context, outcome).

    The hooks called directly on an unsaved row, so no database time blurs the figure; 0 for ``off``.
    """
    if variant == "off":
        return 0.0
    from benchmarks.benchapp.tasks import rail_noop
    from rail_tasks.models import TaskExecution
    from rail_tasks_otel import hooks

    execution = TaskExecution(name="rail_noop", task_path=rail_noop.module_path, attempts=1)
    started = time.process_time()
    for _ in range(count):
        execution.metadata = hooks.rail_tasks_enqueue_metadata(rail_noop, None) or {}
        hooks.rail_tasks_enqueue(execution)
        hooks.rail_tasks_start(execution)
        with hooks.rail_tasks_execution_context(execution):
            hooks.rail_tasks_complete(execution)
    return (time.process_time() - started) * 1e6 / count


def cpu_per_task(count: int) -> tuple[float, float]:
    """CPU milliseconds of this process per task: ``enqueue()``, then ``run_execution()`` of each, in process.

    CPU time of one process, not wall time: what the plugin adds to the web process's enqueue and to
    the worker's run of an execution, with no idle polling and little of the machine's load in it.
    """
    from benchmarks.benchapp.tasks import rail_noop
    from rail_tasks import run_execution
    from rail_tasks.models import TaskExecution

    TaskExecution.objects.all().delete()
    started = time.process_time()
    ids = [rail_noop.enqueue().id for _ in range(count)]
    enqueue = time.process_time() - started
    started = time.process_time()
    for execution_id in ids:
        run_execution(execution_id)
    run = time.process_time() - started
    assert TaskExecution.objects.filter(status="completed").count() == count
    return enqueue * 1000 / count, run * 1000 / count


def inner(db: str, variant: str, count: int) -> dict[str, float]:
    """One round of one variant: enqueue ``count`` no-op tasks, drain them with a real worker."""
    import django

    django.setup()
    from django.db import OperationalError, connection
    from django.db.models import Max, Min

    from benchmarks.benchapp.tasks import rail_noop
    from rail_tasks.models import TaskExecution

    TaskExecution.objects.all().delete()
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        rail_noop.enqueue()
        latencies.append(time.perf_counter() - t0)
    enqueue_seconds = time.perf_counter() - started
    if variant != "off":
        metadata = TaskExecution.objects.values_list("metadata", flat=True).first()
        assert bool(metadata) == variant.startswith("sdk"), f"{variant}: unexpected metadata {metadata!r}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "django", "rail_tasks_worker", "--concurrency", "2", "--poll-interval", "0.1"],
        env=_env(db, variant),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 600
        cpu = 0.0
        while time.monotonic() < deadline:
            cpu = _worker_cpu(worker.pid)
            try:
                if TaskExecution.objects.filter(status="completed").count() >= count:
                    break
            except OperationalError:  # a shared server's connections were cut: reconnect and go on
                connection.close()
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    span = TaskExecution.objects.aggregate(a=Min("started_at"), b=Max("completed_at"))
    done = TaskExecution.objects.filter(status="completed").count()
    enqueue_cpu, run_cpu = cpu_per_task(count)
    return {
        "enqueue_cpu_ms": enqueue_cpu,
        "run_cpu_ms": run_cpu,
        "enqueue_per_s": count / enqueue_seconds,
        "enqueue_p50_ms": statistics.median(latencies) * 1000,
        "drain_per_s": done / (span["b"] - span["a"]).total_seconds() if done == count else float("nan"),
        "worker_cpu_ms_per_task": cpu * 1000 / count,
        "hooks_us_per_task": hook_cost(variant),
    }


def prepare(db: str) -> None:
    """Create the benchmark database (PostgreSQL) or remove its file (SQLite), then migrate."""
    if db == "postgres":
        import psycopg

        name = os.environ.get("BENCH_PG_NAME", "rail_tasks_bench_otel")
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        Path(_env(db, "off")["BENCH_SQLITE_PATH"]).unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=_env(db, "off"), cwd=ROOT, check=True)


ROWS: list[tuple[str, str, str, bool | None]] = [
    ("enqueue CPU per task (ms)", "enqueue_cpu_ms", "{:.3f}", False),
    ("run_execution CPU per task, in process (ms)", "run_cpu_ms", "{:.3f}", False),
    ("enqueue (tasks/s)", "enqueue_per_s", "{:.0f}", True),
    ("enqueue p50 (ms)", "enqueue_p50_ms", "{:.3f}", False),
    ("drain by rail_tasks_worker (tasks/s)", "drain_per_s", "{:.0f}", True),
    ("worker processes' CPU per task (ms)", "worker_cpu_ms_per_task", "{:.3f}", False),
    ("the plugin's hooks, CPU per task (µs)", "hooks_us_per_task", "{:.1f}", None),
]


def table(results: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per measure, one column per variant, its change against ``off`` in brackets."""
    lines = ["| measure | " + " | ".join(VARIANTS) + " |", "|" + "---|" * (1 + len(VARIANTS))]
    for label, key, fmt, higher_is_better in ROWS:
        base = results["off"][key]
        cells = []
        for variant in VARIANTS:
            value = results[variant][key]
            cell = fmt.format(value)
            if variant != "off" and base and higher_is_better is not None:
                cost = (base / value - 1) if higher_is_better else (value / base - 1)
                cell += f" ({cost:+.1%})"
            cells.append(cell)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse options; run every variant once per round, in turn; print medians."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--tasks", type=int, default=2000, help="no-op tasks per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (variants alternate within each)")
    parser.add_argument("--inner", default="", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print every round's numbers as JSON too")
    options = parser.parse_args()
    if options.inner:
        print(json.dumps(inner(options.db, options.inner, options.tasks)))
        return
    prepare(options.db)
    rounds: dict[str, list[dict[str, float]]] = {variant: [] for variant in VARIANTS}
    for round_number in range(1, options.rounds + 1):
        for variant in VARIANTS:
            for attempt in (1, 2):  # once more if the run failed (a shared server restarted, say)
                print(f"round {round_number}: {variant}", file=sys.stderr, flush=True)
                out = subprocess.run(
                    [sys.executable, __file__, "--inner", variant, "--db", options.db, "--tasks", str(options.tasks)],
                    env=_env(options.db, variant),
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if not out.returncode:
                    break
                if attempt == 2:
                    raise SystemExit(f"{variant} failed:\n{out.stderr}")
                print(f"{variant} failed, trying again:\n{out.stderr[-2000:]}", file=sys.stderr, flush=True)
            rounds[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps({variant: rounds[variant][-1]}), file=sys.stderr, flush=True)
    medians: dict[str, dict[str, Any]] = {
        variant: {key: statistics.median(r[key] for r in runs) for key in runs[0]} for variant, runs in rounds.items()
    }
    print()
    print(
        f"{options.tasks} no-op tasks, {options.rounds} rounds (medians), {options.db}, "
        f"rail_tasks_worker --concurrency 2, {os.cpu_count()} CPUs."
    )
    print(table(medians))
    if options.json:
        print(json.dumps(rounds, indent=2))


if __name__ == "__main__":
    main()
