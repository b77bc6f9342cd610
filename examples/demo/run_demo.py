"""The rail-tasks demo: enqueue a few long reports and watch them run on a real worker.

Run it with ``./dev demo`` from the repository root. It migrates a SQLite
database, starts ``manage.py rail_tasks_worker`` as a separate process, enqueues
the reports, draws one live progress bar per report from the ``TaskExecution``
rows, then prints the results and stops the worker with SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=4, help="how many reports to enqueue (default 4)")
    parser.add_argument("--seconds", type=float, default=6.0, help="about how long the longest report takes")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--timeout", type=float, default=120.0, help="give up after this many seconds")
    return parser.parse_args()


def setup_django() -> None:
    sys.path.insert(0, str(HERE))
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
    setup_django()

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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
