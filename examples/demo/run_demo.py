"""The rail-tasks demo: enqueue a few long reports and watch them run on a real worker.

Run it with ``./dev demo`` from the repository root. It migrates a SQLite
database, starts ``manage.py rail_tasks_worker`` as a separate process, enqueues
the reports, draws one live progress bar per report from the ``TaskExecution``
rows, then prints the results and stops the worker with SIGTERM.

``--trace`` (needs rail-tasks-otel and the OpenTelemetry SDK) traces every
process of the demo and prints, at the end, the trace of each report: the
demo's enqueue, the ``send`` span, the worker's attempt with its progress
events.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=4, help="how many reports to enqueue (default 4)")
    parser.add_argument("--seconds", type=float, default=6.0, help="about how long the longest report takes")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    parser.add_argument("--trace", action="store_true", help="print the OpenTelemetry trace tree of the reports")
    return parser.parse_args()


def setup_django(trace_dir: Path | None) -> None:
    sys.path.insert(0, str(HERE))
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
        for old in trace_dir.glob("spans-*.jsonl"):
            old.unlink()
        os.environ["DEMO_TRACE_DIR"] = str(trace_dir)  # read by the settings, here and in the worker
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_worker(concurrency: int, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("wb")
    return subprocess.Popen(
        [sys.executable, "manage.py", "rail_tasks_worker", "--concurrency", str(concurrency)],
        cwd=HERE,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def main() -> int:
    args = parse_args()
    trace_dir = HERE / "traces" if args.trace else None
    setup_django(trace_dir)

    from reports.tasks import generate_report
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from rail_tasks import Status, TaskExecution

    console = Console()
    log_path = HERE / "worker.log"
    worker = start_worker(args.concurrency, log_path)
    console.print(f"[bold]rail-tasks demo[/] · worker pid {worker.pid} (log: {log_path.relative_to(Path.cwd())})")

    ids = []
    for n in range(1, args.reports + 1):
        seconds = args.seconds * (0.5 + n / (2 * args.reports))
        with caller_span(f"report {n} requested", trace_dir):
            result = generate_report.enqueue(f"dataset-{n}", rows=20 * n, seconds=seconds)
        ids.append(result.id)
    console.print(f"enqueued {len(ids)} reports; {args.concurrency} worker processes run them\n")

    columns = (
        TextColumn("{task.fields[label]:<12}"),
        BarColumn(bar_width=32),
        TaskProgressColumn(),
        TextColumn("[cyan]{task.fields[status]:<9}[/]"),
        TextColumn("{task.fields[message]}"),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + args.timeout
    with Progress(*columns, console=console, refresh_per_second=10) as progress:
        bars = {
            task_id: progress.add_task("", total=100, label=f"report {n}", status="pending", message="")
            for n, task_id in enumerate(ids, start=1)
        }
        while time.monotonic() < deadline:
            rows = {str(row.id): row for row in TaskExecution.objects.filter(pk__in=ids)}
            for task_id, bar in bars.items():
                row = rows[task_id]
                progress.update(bar, completed=row.progress, status=row.status, message=row.progress_message)
            if all(row.is_finished for row in rows.values()):
                break
            time.sleep(0.1)

    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()

    table = Table(title="Results")
    for column in ("report", "status", "attempts", "took", "result"):
        table.add_column(column)
    failed = 0
    for n, task_id in enumerate(ids, start=1):
        row = TaskExecution.objects.get(pk=task_id)
        took = f"{row.duration.total_seconds():.1f}s" if row.duration else "-"
        outcome = str(row.result) if row.status == Status.COMPLETED else row.error or "-"
        failed += row.status != Status.COMPLETED
        table.add_row(f"report {n}", row.status, str(row.attempts), took, outcome)
    console.print(table)
    console.print(f"worker exited with code {worker.returncode}")
    if trace_dir is not None:
        print_traces(console, trace_dir)
    return 1 if failed else 0


def caller_span(name: str, trace_dir: Path | None) -> contextlib.AbstractContextManager[object]:
    """The span of whoever enqueues (a request, in a project); nothing without ``--trace``."""
    if trace_dir is None:
        return contextlib.nullcontext()
    from opentelemetry import trace

    return trace.get_tracer("run_demo").start_as_current_span(name)


def print_traces(console: Any, trace_dir: Path) -> None:
    """Flush this process's spans, read every process's, print one tree per report."""
    from demo_project.telemetry import read_spans
    from opentelemetry import trace

    from rail_tasks_otel import render_tree

    flush = getattr(trace.get_tracer_provider(), "force_flush", None)
    if flush is not None:
        flush()
    console.print("\n[bold]Traces[/] (rail-tasks-otel; spans of the demo and of every worker process)")
    console.print(render_tree(read_spans(trace_dir)), highlight=False, markup=False, soft_wrap=True)


if __name__ == "__main__":
    sys.exit(main())
