"""``manage.py rail_tasks_worker``: run tasks of the ``database`` backend."""

from __future__ import annotations

import logging
import os
import sys
import threading
import traceback
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections, router
from django.db.migrations.executor import MigrationExecutor
from django.utils import autoreload
from django.utils.module_loading import autodiscover_modules

from rail_tasks.backends.database import Worker, WorkerOptions


def unapplied_migrations(using: str) -> list[str]:
    """The ``rail_tasks`` migrations not applied on database ``using`` (``app.name``), in order."""
    executor = MigrationExecutor(connections[using])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan if migration.app_label == "rail_tasks"]


def check_migrated() -> None:
    """Refuse to start on a database where the ``TaskExecution`` table is missing or out of date.

    A database that cannot be reached is left to the worker, which waits for it with a back-off.
    """
    from rail_tasks.models import TaskExecution

    using = router.db_for_write(TaskExecution)
    try:
        missing = unapplied_migrations(using)
    except DatabaseError:
        return
    finally:
        connections[using].close()
    if missing:
        raise CommandError(
            f"The database {using!r} is not migrated for rail-tasks: {', '.join(missing)} not applied. "
            "Run `python manage.py migrate` first, then start the worker again."
        )


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    """Claim and run executions of the ``database`` backend until SIGTERM/SIGINT."""

    help = (
        "Run tasks of the rail-tasks database backend. SIGTERM/SIGINT stops claiming and lets running tasks "
        "finish (a second signal hands them back to the queue)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        """The command's options."""
        parser.add_argument(
            "--queue",
            action="append",
            default=[],
            dest="queues",
            help="Queue to serve (repeat, or comma-separate, for several). Default: every queue.",
        )
        parser.add_argument(
            "--backend",
            action="append",
            default=[],
            dest="backends",
            help="TASKS alias to serve (repeat for several). Default: every alias using the database backend.",
        )
        parser.add_argument(
            "--concurrency", type=_positive_int, default=1, help="Worker processes; each runs one task at a time."
        )
        parser.add_argument("--max-tasks", type=_positive_int, default=None, help="Exit after this many tasks.")
        parser.add_argument(
            "--max-tasks-per-child",
            type=_positive_int,
            default=None,
            help="Replace a worker process after it ran this many tasks (bounds memory growth).",
        )
        parser.add_argument("--worker-id", default="", help="Name recorded on claimed executions (host:pid:token).")
        parser.add_argument(
            "--burst", "--once", action="store_true", dest="burst", help="Run until the queue is empty, then exit."
        )
        parser.add_argument(
            "--reload",
            action="store_true",
            help="Development: restart the worker when a Python file changes, as runserver does "
            "(running tasks are handed back to the queue).",
        )
        parser.add_argument("--poll-interval", type=float, default=None, help="Seconds between polls when idle.")
        parser.add_argument("--lease-seconds", type=float, default=None, help="Lease of a running execution.")
        parser.add_argument("--heartbeat-seconds", type=float, default=None, help="How often leases are renewed.")
        parser.add_argument(
            "--shutdown-grace-seconds", type=float, default=None, help="Time running tasks get after SIGTERM."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Build the worker from the options and run it."""
        queues = [name.strip() for value in options["queues"] for name in value.split(",") if name.strip()]
        worker_options = WorkerOptions(
            queues=queues,
            backends=list(options["backends"]),
            concurrency=options["concurrency"],
            worker_id=options["worker_id"],
            max_tasks=options["max_tasks"],
            max_tasks_per_child=options["max_tasks_per_child"],
            burst=options["burst"],
            poll_interval=options["poll_interval"],
            lease_seconds=options["lease_seconds"],
            heartbeat_seconds=options["heartbeat_seconds"],
            shutdown_grace_seconds=options["shutdown_grace_seconds"],
        )
        if options["verbosity"] >= 2:
            # -v 2: the worker's own log lines (claims, leases, lost workers) on stderr.
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            worker_logger = logging.getLogger("rail_tasks")
            worker_logger.addHandler(handler)
            worker_logger.setLevel(logging.DEBUG if options["verbosity"] >= 3 else logging.INFO)
        if options["reload"]:
            self._run_reloading(worker_options)
            return
        code = self._build(worker_options).run()
        if code:
            raise SystemExit(code)

    def _build(self, worker_options: WorkerOptions) -> Worker:
        check_migrated()
        try:
            worker = Worker(worker_options, log=self._write)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self._warn_about_other_engines(worker_options.backends)
        return worker

    def _warn_about_other_engines(self, backends: list[str]) -> None:
        """Say so when waiting rows of these aliases were enqueued for another backend (the alias was switched)."""
        from rail_tasks.backends.database.claim import served_engines
        from rail_tasks.models import TaskExecution
        from rail_tasks.status import READY_STATUSES

        try:
            others = (
                TaskExecution.objects.filter(backend__in=backends, status__in=READY_STATUSES)
                .exclude(engine__in=served_engines(backends))
                .values_list("backend", "engine")
                .distinct()
            )
            found = list(others[:10])
        except DatabaseError:
            return
        for alias, engine in found:
            self._write(
                f"rail-tasks worker: waiting executions of alias {alias!r} were enqueued for {engine}; this worker "
                "leaves them to that engine's workers (cancel them, or run such a worker, to drain them)"
            )

    def _run_reloading(self, worker_options: WorkerOptions) -> None:
        """``--reload``: Django's autoreloader, as runserver uses it, around a worker in the main thread.

        The first process only restarts the second whenever it exits with status 3; the second runs the
        worker (it needs the main thread for its signal handlers) while Django's file watcher runs in a
        thread and, on a change, stops the worker hard (running tasks go back to the queue) and exits with 3.
        """
        if os.environ.get(autoreload.DJANGO_AUTORELOAD_ENV) != "true":
            self._write("rail-tasks worker: restarting on code changes (--reload)")
            try:
                raise SystemExit(autoreload.restart_with_reloader())
            except KeyboardInterrupt:
                return
        reloader = autoreload.get_reloader()
        built: list[Worker] = []

        def start() -> None:
            autodiscover_modules("tasks")  # watch the task modules too (the worker imports them only in children)
            built.append(self._build(worker_options))

        try:
            autoreload.check_errors(start)()  # a file with an error is watched, so fixing it restarts
        except Exception:
            self.stderr.write(traceback.format_exc())
            self.stderr.write("rail-tasks worker: waiting for a file to change (--reload)")
            reloader.run(threading.main_thread())  # exits with status 3 on the next change
            return
        (worker,) = built
        changed: list[str] = []

        def on_change(sender: Any, file_path: Any, **kwargs: Any) -> bool:
            changed.append(str(file_path))
            worker.stop(hard=True)
            return True  # handled: the reloader must not exit from its own thread

        autoreload.file_changed.connect(on_change, weak=False)
        watcher = threading.Thread(target=reloader.run, args=(threading.main_thread(),), daemon=True)
        watcher.name = "rail-tasks-reloader"
        watcher.start()
        code = worker.run()
        if changed:
            self._write(f"rail-tasks worker: {changed[0]} changed, restarting")
            raise SystemExit(3)
        if code:
            raise SystemExit(code)

    def _write(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()
