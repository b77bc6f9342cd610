"""rail-tasks ``database`` backend vs django-tasks-db, side by side, on PostgreSQL and SQLite.

Run from the repository root (django-tasks-db and psycopg installed)::

    python benchmarks/database.py                 # both databases
    python benchmarks/database.py --db postgres --drain 2000 --pickup 200 --claim-rows 1000000

Measures, for each queue with the same no-op task body and 2 worker processes
(rail: one worker with ``--concurrency 2``; django-tasks-db: two ``db_worker``):

* enqueue throughput and p50/p99 latency (sequential ``Task.enqueue()`` calls);
* drain throughput: N ready no-op tasks, first start to last finish (from the rows);
* pickup latency p50/p99: from ``enqueue()``'s return to the task function's first line,
  one task at a time on idle workers, a random 0-100 ms pause before each; on PostgreSQL
  also the floor of any LISTEN/NOTIFY worker (``floor_worker``: wake, one raw claim,
  hand the id to a waiting process), measured the same way on rail's rows;
* the claim transaction's time with F finished + W waiting rows (rolled back).

Each database runs in a child interpreter (``--inner``) with ``benchmarks.settings``;
the parent prints one table. Results vary with the machine's load: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _env(db: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    env["BENCH_DB"] = db
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    return env


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# -- inside one database -------------------------------------------------------------


class Bench:
    """Measurements against the database named by the settings (run after ``django.setup()``)."""

    def __init__(self, db: str, options: argparse.Namespace) -> None:
        self.db = db
        self.options = options
        self.env = _env(db)

    def reset(self) -> None:
        from django_tasks_db.models import DBTaskResult

        from rail_tasks.models import TaskExecution

        TaskExecution.objects.all().delete()
        DBTaskResult.objects.all().delete()
        from django.db import connection

        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE rail_tasks_taskexecution")
                cursor.execute("VACUUM ANALYZE django_tasks_database_dbtaskresult")

    def start_workers(
        self, system: str, *, interval: float | None = None, pass_fds: tuple[int, ...] = ()
    ) -> list[subprocess.Popen[bytes]]:
        base = [sys.executable, "-m", "django"]
        if system == "rail":
            command = [*base, "rail_tasks_worker", "--concurrency", "2"]
            if interval is not None:
                command += ["--poll-interval", str(interval)]
            commands = [command]
        elif system == "floor":
            commands = [[sys.executable, __file__, "--floor-worker"]]
        else:
            command = [*base, "db_worker", "--backend", "dtdb", "--queue-name", "*", "--no-startup-delay"]
            command += ["--interval", str(interval if interval is not None else 1)]
            commands = [command, command]
        processes = [
            subprocess.Popen(
                c, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, pass_fds=pass_fds
            )
            for c in commands
        ]
        time.sleep(2.5)  # Django start-up and first poll
        return processes

    @staticmethod
    def stop_workers(processes: list[subprocess.Popen[bytes]]) -> None:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def task(self, system: str) -> Any:
        from benchmarks.benchapp import tasks

        return tasks.dtdb_noop if system == "dtdb" else tasks.rail_noop  # the floor serves rail's rows

    def finished_count(self, system: str) -> int:
        from django_tasks_db.models import DBTaskResult

        from rail_tasks.models import TaskExecution

        if system == "rail":
            return TaskExecution.objects.filter(status="completed").count()
        return DBTaskResult.objects.filter(status="SUCCESSFUL").count()

    def span(self, system: str) -> float:
        from django.db.models import Max, Min
        from django_tasks_db.models import DBTaskResult

        from rail_tasks.models import TaskExecution

        if system == "rail":
            agg = TaskExecution.objects.aggregate(a=Min("started_at"), b=Max("completed_at"))
        else:
            agg = DBTaskResult.objects.aggregate(a=Min("started_at"), b=Max("finished_at"))
        return float((agg["b"] - agg["a"]).total_seconds())

    def enqueue_and_drain(self, system: str) -> dict[str, float]:
        count = self.options.drain
        self.reset()
        task = self.task(system)
        latencies = []
        started = time.perf_counter()
        for _ in range(count):
            t0 = time.perf_counter()
            task.enqueue()
            latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - started
        processes = self.start_workers(system, interval=0.1)
        deadline = time.monotonic() + 300
        while self.finished_count(system) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop_workers(processes)
        done = self.finished_count(system)
        return {
            "enqueue_per_s": count / elapsed,
            "enqueue_p50_ms": _percentile(latencies, 50),
            "enqueue_p99_ms": _percentile(latencies, 99),
            "drain_per_s": done / self.span(system) if done == count else float("nan"),
        }

    def pickup(self, system: str, interval: float | None) -> dict[str, float]:
        """Enqueue return -> the task function's first line, one task at a time on idle workers.

        A random 0-100 ms pause precedes each task (workers go idle between them,
        as with real traffic). The task writes ``time.time()`` to a pipe the
        workers inherited; the sample is that minus the wall-clock time just
        after ``enqueue()`` returned.
        """
        count = self.options.pickup
        self.reset()
        task = self.task(system)
        read_fd, write_fd = os.pipe()
        self.env["BENCH_PICKUP_FD"] = str(write_fd)
        processes = self.start_workers(system, interval=interval, pass_fds=(write_fd,))
        os.close(write_fd)
        pending = b""
        samples = []
        pauses = random.Random(20261202)
        try:
            for _ in range(count):
                time.sleep(pauses.uniform(0, 0.1))
                task.enqueue(True)
                returned = time.time()
                while b"\n" not in pending:
                    ready, _, _ = select.select([read_fd], [], [], 30)
                    if not ready:
                        raise RuntimeError(f"{system}: a pickup sample never ran")
                    pending += os.read(read_fd, 4096)
                line, pending = pending.split(b"\n", 1)
                samples.append((float(line) - returned) * 1000)
        finally:
            self.stop_workers(processes)
            os.close(read_fd)
            del self.env["BENCH_PICKUP_FD"]
        return {"pickup_p50_ms": _percentile(samples, 50), "pickup_p99_ms": _percentile(samples, 99)}

    def fill(self, finished: int, waiting: int) -> None:
        """Insert ``finished`` finished and ``waiting`` ready rows into both queues' tables."""
        from django.db import connection

        self.reset()
        pg = connection.vendor == "postgresql"
        series = (
            "generate_series(1, %s) AS g(i)"
            if pg
            else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %s) SELECT i FROM s)"
        )
        uuid = "gen_random_uuid()" if pg else "lower(hex(randomblob(16)))"
        now = "now()" if pg else "strftime('%%Y-%%m-%%d %%H:%%M:%%f', 'now')"
        empty_json = "'{}'::jsonb" if pg else "'{}'"
        empty_list = "'[]'::jsonb" if pg else "'[]'"
        with connection.cursor() as cursor:
            for status, rows in (("completed", finished), ("pending", waiting)):
                if not rows:
                    continue
                cursor.execute(
                    "INSERT INTO rail_tasks_taskexecution (id, name, task_path, backend, queue, priority, status,"
                    " progress, progress_message, args, kwargs, metadata, error, exception_class, traceback, attempts,"
                    " max_retries, retry_delay, retry_backoff, track_progress, created_at, completed_at, worker_id,"
                    f" cancel_requested, engine) SELECT {uuid}, 'rail_noop', 'benchmarks.benchapp.tasks.rail_noop',"
                    f" 'default', 'default', 0, '{status}', 0, '', {empty_list}, {empty_json}, {empty_json},"
                    f" '', '', '', 0, 0, 0, false, false, {now}, {now if status == 'completed' else 'NULL'}, '',"
                    " false, ''"
                    f" FROM {series}",
                    [rows],
                )
                dt_status = "SUCCESSFUL" if status == "completed" else "READY"
                cursor.execute(
                    "INSERT INTO django_tasks_database_dbtaskresult (id, status, enqueued_at, finished_at, args_kwargs,"
                    " priority, task_path, queue_name, backend_name, return_value, exception_class_path, traceback,"
                    f" worker_ids, run_after) SELECT {uuid}, '{dt_status}', {now},"
                    f" {now if status == 'completed' else 'NULL'},"
                    f" '{{\"args\": [], \"kwargs\": {{}}}}', 0, 'benchmarks.benchapp.tasks.dtdb_noop', 'default',"
                    f" 'dtdb', 'null', '', '', {empty_list}, '9999-01-01 00:00:00' FROM {series}",
                    [rows],
                )
            if pg:
                cursor.execute("ANALYZE rail_tasks_taskexecution")
                cursor.execute("ANALYZE django_tasks_database_dbtaskresult")

    def claim_time(self, system: str, rounds: int = 200) -> float:
        """Median ms of one claim transaction (up to 2 rows for rail, 1 for django-tasks-db), undone untimed."""
        from django.db import transaction
        from django_tasks_db.models import DBTaskResult
        from django_tasks_db.utils import exclusive_transaction

        from rail_tasks.backends.database.claim import claim_batch
        from rail_tasks.models import TaskExecution

        samples = []
        for _ in range(rounds):
            if system == "rail":
                t0 = time.perf_counter()
                rows = claim_batch(
                    using="default", backends=["default"], queues=[], limit=2, worker_id="bench", lease_seconds=60
                )
                samples.append((time.perf_counter() - t0) * 1000)
                TaskExecution.objects.filter(pk__in=[row.pk for row in rows]).update(
                    status="pending", attempts=0, worker_id="", lease_expires_at=None
                )
            else:
                t0 = time.perf_counter()
                with exclusive_transaction("default"):
                    row = DBTaskResult.objects.ready().filter(backend_name="dtdb").get_locked()
                    if row is not None:
                        row.claim("bench")
                    transaction.set_rollback(True)  # their claim, minus the commit: a slight advantage to them
                samples.append((time.perf_counter() - t0) * 1000)
        return statistics.median(samples)


#: The floor's claim: rail's own claim statement, minus the columns the runner needs (only the id comes back).
_FLOOR_CLAIM = (
    "UPDATE rail_tasks_taskexecution SET status = 'running', attempts = attempts + 1, worker_id = 'floor', "
    "started_at = COALESCE(started_at, now()), heartbeat_at = now(), lease_expires_at = now() + interval '60 s' "
    "WHERE id IN (SELECT id FROM rail_tasks_taskexecution WHERE status IN ('pending', 'retrying') "
    "AND (run_after IS NULL OR run_after <= now()) AND backend = 'default' "
    "ORDER BY priority DESC, created_at LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id"
)


def floor_worker() -> None:
    """The pickup floor on PostgreSQL: what any LISTEN/NOTIFY worker that claims a row and hands it to a process pays.

    No Django: a psycopg connection that LISTENs, claims with one prepared
    ``UPDATE ... RETURNING id`` when woken, and writes the id into the pipe of a
    forked child that is waiting on it; the child stamps the time (the first line
    of a task). rail's worker adds to this only the runner's own work (the row, the
    hooks and signals) before the task function's first line.
    """
    import psycopg

    name = os.environ.get("BENCH_PG_NAME", "rail_tasks_bench")
    stamps = int(os.environ["BENCH_PICKUP_FD"])
    read_end, write_end = os.pipe()
    if os.fork() == 0:  # the child: wait for an id, stamp
        os.close(write_end)
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while line := pipe.readline():
                os.write(stamps, f"{time.time()!r}\n".encode())
                del line
        os._exit(0)
    os.close(read_end)
    conn = psycopg.connect(f"host=127.0.0.1 user=postgres dbname={name}", autocommit=True)
    conn.execute("LISTEN rail_tasks")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    pgconn = conn.pgconn
    while True:
        select.select([conn.fileno()], [], [], 1.0)
        pgconn.consume_input()
        while pgconn.notifies() is not None:
            pass
        for (execution_id,) in conn.execute(_FLOOR_CLAIM, prepare=True).fetchall():
            os.write(write_end, f"{execution_id}\n".encode())


def memory(db: str, options: argparse.Namespace) -> dict[str, float]:
    """RSS of one worker (concurrency 1) over ``options.memory`` no-op tasks, after a warm-up."""
    import django
    import psutil

    django.setup()
    from rail_tasks.models import TaskExecution

    bench = Bench(db, options)
    bench.fill(0, options.memory)
    command = [sys.executable, "-m", "django", "rail_tasks_worker", "--concurrency", "1", "--burst"]
    process = subprocess.Popen(command, env=bench.env, cwd=ROOT, stdout=subprocess.DEVNULL)
    supervisor = psutil.Process(process.pid)
    warm: dict[int, int] = {}
    last: dict[int, int] = {}
    warm_up = min(1000, options.memory // 10)
    while process.poll() is None:
        time.sleep(0.5)
        try:
            done = TaskExecution.objects.filter(status="completed").count()
            procs = [supervisor, *supervisor.children()]
            sample = {p.pid: p.memory_info().rss for p in procs}
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if len(sample) < 2 or not all(sample.values()):
            continue  # starting or exiting
        if done >= warm_up and not warm:
            warm = dict(sample)
        if warm:
            last = {pid: rss for pid, rss in sample.items() if pid in warm}
        if done >= options.memory:
            break  # the last full sample, before the burst worker exits
    process.wait(60)
    print(f"warm-up RSS {warm}, final RSS {last}", file=sys.stderr)
    growth = {pid: (last.get(pid, rss) - rss) / 2**20 for pid, rss in warm.items()}
    child_growth = [mb for pid, mb in growth.items() if pid != process.pid]
    return {
        "tasks": float(TaskExecution.objects.filter(status="completed").count()),
        "supervisor_growth_mb": growth.get(process.pid, float("nan")),
        "child_growth_mb": child_growth[0] if child_growth else float("nan"),
        "child_rss_mb": max((rss for pid, rss in last.items() if pid != process.pid), default=0) / 2**20,
    }


def inner(db: str, options: argparse.Namespace) -> dict[str, Any]:
    """Run every measurement on one database; returns the numbers."""
    import django

    django.setup()
    bench = Bench(db, options)
    results: dict[str, Any] = {}
    only = set(options.only.split(",")) if options.only else {"drain", "pickup", "claim"}
    systems = options.systems.split(",")
    for system in ("rail", "dtdb"):
        results[system] = {}
        if system not in systems:
            continue
        if "drain" in only:
            print(f"[{db}] {system}: enqueue + drain {options.drain}", file=sys.stderr, flush=True)
            results[system].update(bench.enqueue_and_drain(system))
        if "pickup" in only:
            print(f"[{db}] {system}: pickup x{options.pickup}", file=sys.stderr, flush=True)
            results[system].update(bench.pickup(system, None if system == "rail" else 0.1))
            if system == "rail" and db == "postgres":
                print(f"[{db}] floor: pickup x{options.pickup}", file=sys.stderr, flush=True)
                floor = bench.pickup("floor", None)
                results[system]["pickup_floor_p50_ms"] = floor["pickup_p50_ms"]
                results[system]["pickup_floor_p99_ms"] = floor["pickup_p99_ms"]
    if options.pickup_dtdb_default and "pickup" in only:
        print(f"[{db}] dtdb: pickup at its default 1 s interval", file=sys.stderr, flush=True)
        saved = options.pickup
        options.pickup = min(saved, 40)
        results["dtdb"]["pickup_default_p50_ms"] = bench.pickup("dtdb", 1.0)["pickup_p50_ms"]
        options.pickup = saved
    for finished, waiting in ((0, 1000), (options.claim_rows, options.claim_rows // 10)):
        if "claim" not in only or (finished == 0 and waiting == 0):
            continue
        print(f"[{db}] claim time with {finished} finished + {waiting} waiting", file=sys.stderr, flush=True)
        bench.fill(finished, waiting)
        for system in systems:
            results[system][f"claim_ms_{finished}"] = bench.claim_time(system)
    bench.reset()
    return results


# -- SQLite as projects configure it --------------------------------------------------
# Separate from the tables above: the drain under the SQLite settings users actually have,
# startproject's (no OPTIONS) and the WAL settings most deployments use without transaction_mode.

SQLITE_CONFIGS: dict[str, dict[str, Any]] = {
    "startproject (no OPTIONS)": {},
    "WAL, synchronous=NORMAL, timeout 20": {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    },
    'same + transaction_mode "IMMEDIATE"': {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    },
}


def sqlite_settings_drain(options: argparse.Namespace) -> dict[str, float]:
    """Inside one configuration: drain ``options.drain`` no-ops with each queue; rail's lock errors from its log."""
    import tempfile

    import django

    django.setup()
    bench = Bench("sqlite", options)
    numbers: dict[str, float] = {}
    for system in ("rail", "dtdb"):
        bench.reset()
        task = bench.task(system)
        for _ in range(options.drain):
            task.enqueue()
        base = [sys.executable, "-m", "django"]
        if system == "rail":
            commands = [[*base, "rail_tasks_worker", "--concurrency", "2", "--poll-interval", "0.1", "-v", "2"]]
        else:
            command = [*base, "db_worker", "--backend", "dtdb", "--queue-name", "*", "--no-startup-delay"]
            commands = [[*command, "--interval", "0.1"]] * 2
        with tempfile.TemporaryFile() as log:
            processes = [subprocess.Popen(c, env=bench.env, cwd=ROOT, stdout=log, stderr=log) for c in commands]
            deadline = time.monotonic() + 300
            while bench.finished_count(system) < options.drain and time.monotonic() < deadline:
                time.sleep(0.05)
            bench.stop_workers(processes)
            log.seek(0)
            text = log.read().decode(errors="replace")
        done = bench.finished_count(system)
        numbers[f"{system}_drain_per_s"] = done / bench.span(system) if done == options.drain else float("nan")
        if system == "rail":
            numbers["rail_lock_errors"] = float(text.count("database is locked"))
    bench.reset()
    return numbers


def sqlite_settings(options: argparse.Namespace) -> None:
    """The parent: each SQLite configuration in a child interpreter on a fresh file; one table."""
    lines = [
        f"| SQLite settings (drain {options.drain} no-op, 2 processes) | rail (tasks/s) | django-tasks-db (tasks/s) "
        "| rail 'database is locked' |",
        "|---|---|---|---|",
    ]
    for label, config in SQLITE_CONFIGS.items():
        env = _env("sqlite")
        env["BENCH_SQLITE_OPTIONS"] = json.dumps(config)
        env["BENCH_PERSISTENT"] = "0"  # startproject's CONN_MAX_AGE
        Path(os.environ.get("BENCH_SQLITE_PATH", "/tmp/rail-tasks-bench.sqlite3")).unlink(missing_ok=True)
        subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True)
        print(f"[sqlite] {label}", file=sys.stderr, flush=True)
        argv = [sys.executable, __file__, "--inner-sqlite-settings", "--drain", str(options.drain)]
        out = subprocess.run(argv, env=env, cwd=ROOT, check=False, capture_output=True)
        sys.stderr.write(out.stderr.decode())
        if out.returncode:
            raise SystemExit(f"SQLite benchmark with {label} failed")
        n = json.loads(out.stdout.decode().strip().splitlines()[-1])
        lines.append(
            f"| {label} | {n['rail_drain_per_s']:.0f} | {n['dtdb_drain_per_s']:.0f} | {n['rail_lock_errors']:.0f} |"
        )
    print()
    print("\n".join(lines))


# -- the parent: databases, migrations, the table ------------------------------------


def prepare(db: str) -> None:
    """Create (PostgreSQL) or remove (SQLite) the benchmark database, then migrate it."""
    if db == "postgres":
        import psycopg

        name = os.environ.get("BENCH_PG_NAME", "rail_tasks_bench")
        with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
    else:
        Path(os.environ.get("BENCH_SQLITE_PATH", "/tmp/rail-tasks-bench.sqlite3")).unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "django", "migrate", "-v", "0"], env=_env(db), cwd=ROOT, check=True)


ROWS = [
    ("enqueue (tasks/s)", "enqueue_per_s", "{:.0f}"),
    ("enqueue p50 (ms)", "enqueue_p50_ms", "{:.2f}"),
    ("enqueue p99 (ms)", "enqueue_p99_ms", "{:.2f}"),
    ("drain {drain} no-op (tasks/s)", "drain_per_s", "{:.0f}"),
    ("pickup p50 (ms)", "pickup_p50_ms", "{:.1f}"),
    ("pickup p99 (ms)", "pickup_p99_ms", "{:.1f}"),
    ("pickup p50, floor: LISTEN + claim + pipe (ms)", "pickup_floor_p50_ms", "{:.1f}"),
    ("pickup p99, floor (ms)", "pickup_floor_p99_ms", "{:.1f}"),
    ("pickup p50, dtdb 1 s poll (ms)", "pickup_default_p50_ms", "{:.0f}"),
    ("claim, 0 + 1k waiting (ms)", "claim_ms_0", "{:.2f}"),
    ("claim, {rows} + {waiting} waiting (ms)", "claim_ms_big", "{:.2f}"),
]


def table(all_results: dict[str, dict[str, Any]], options: argparse.Namespace) -> str:
    """A Markdown table: one row per measure, rail and django-tasks-db columns per database."""
    dbs = list(all_results)
    header = "| measure | " + " | ".join(f"rail {db} | django-tasks-db {db}" for db in dbs) + " |"
    lines = [header, "|" + "---|" * (1 + 2 * len(dbs))]
    for label, key, fmt in ROWS:
        cells = []
        for db in dbs:
            for system in ("rail", "dtdb"):
                values = all_results[db][system]
                value = values.get(f"claim_ms_{options.claim_rows}") if key == "claim_ms_big" else values.get(key)
                cells.append(fmt.format(value) if isinstance(value, int | float) else "-")
        title = label.format(
            drain=options.drain, rows=f"{options.claim_rows:,}", waiting=f"{options.claim_rows // 10:,}"
        )
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse options; run each database in a child interpreter; print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--drain", type=int, default=2000, help="no-op tasks enqueued then drained")
    parser.add_argument("--pickup", type=int, default=200, help="sequential tasks for pickup latency")
    parser.add_argument("--claim-rows", type=int, default=1_000_000, help="finished rows (waiting = a tenth)")
    parser.add_argument("--pickup-dtdb-default", action="store_true", help="also time dtdb at its 1 s default poll")
    parser.add_argument("--only", default="", help="comma-separated subset of drain (with enqueue), pickup, claim")
    parser.add_argument("--systems", default="rail,dtdb", help="rail, dtdb or both (comma-separated)")
    parser.add_argument("--memory", type=int, default=0, help="only measure worker RSS over this many tasks")
    parser.add_argument(
        "--sqlite-settings", action="store_true", help="only the drain under common SQLite settings (see below)"
    )
    parser.add_argument("--inner-sqlite-settings", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--inner", default="", help=argparse.SUPPRESS)
    parser.add_argument("--floor-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the raw numbers as JSON too")
    options = parser.parse_args()
    if options.inner_sqlite_settings:
        print(json.dumps(sqlite_settings_drain(options)))
        return
    if options.sqlite_settings:
        sqlite_settings(options)
        return
    if options.floor_worker:
        floor_worker()
        return
    if options.inner:
        print(json.dumps(memory(options.inner, options) if options.memory else inner(options.inner, options)))
        return
    dbs = ["postgres", "sqlite"] if options.db == "both" else [options.db]
    results = {}
    for db in dbs:
        prepare(db)
        argv = [a for a in sys.argv[1:] if not a.startswith("--db")]
        argv = [a for a in argv if a not in {"postgres", "sqlite", "both"}]
        out = subprocess.run(
            [sys.executable, __file__, "--inner", db, *argv], env=_env(db), cwd=ROOT, check=False, capture_output=True
        )
        sys.stderr.write(out.stderr.decode())
        if out.returncode:
            raise SystemExit(f"benchmark on {db} failed")
        results[db] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    if options.memory:
        for db, numbers in results.items():
            print(
                f"{db}: {numbers['tasks']:.0f} tasks; RSS growth after warm-up: child "
                f"{numbers['child_growth_mb']:+.1f} MB (RSS {numbers['child_rss_mb']:.0f} MB), "
                f"supervisor {numbers['supervisor_growth_mb']:+.1f} MB"
            )
        return
    print()
    print(f"2 worker processes each; {os.cpu_count()} CPUs; persistent connections (CONN_MAX_AGE=None).")
    print(table(results, options))
    if options.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
