"""``manage.py cleanup_tasks --days N [--dry-run]``: delete old finished executions (seed name)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rail_tasks.cleanup import cleanup_executions


class Command(BaseCommand):
    """Delete finished executions older than ``--days`` days, and those past their expiry."""

    help = (
        "Delete finished task executions (completed, failed, cancelled) that completed more than --days days ago, "
        "plus finished ones past their expires_at (result_ttl_seconds). Waiting and running executions are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        """``--days``, ``--dry-run`` and ``--batch-size``."""
        parser.add_argument(
            "--days",
            type=float,
            default=None,
            help="Delete finished executions completed more than this many days ago (default: only expired ones).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would be deleted.")
        parser.add_argument("--batch-size", type=int, default=1000, help="Rows deleted per statement (default 1000).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the cleanup and print the counts."""
        days = options["days"]
        try:
            report = cleanup_executions(days=days, dry_run=options["dry_run"], batch_size=options["batch_size"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Would delete" if report.dry_run else "Deleted"
        age = f"completed more than {days:g} days ago" if days is not None else "past the --days cutoff (none given)"
        self.stdout.write(
            f"{verb} {report.total} finished execution(s): {report.old} {age}, {report.expired} past their expiry."
        )
