"""The same no-op task body for both queues under comparison."""

from __future__ import annotations

import time

from django.tasks import task as django_task

import rail_tasks

#: Filled by the task bodies when BENCH_PICKUP_FILE is set: enqueue -> start latency samples.
_PICKUP_FILE = None


def _body(sent_at: float) -> None:
    """No work; records pickup latency (enqueue wall time -> start) when measuring it."""
    if sent_at:
        import os

        path = os.environ.get("BENCH_PICKUP_FILE")
        if path:
            with open(path, "a") as handle:
                handle.write(f"{time.time() - sent_at}\n")


@rail_tasks.task(max_retries=0)
def rail_noop(sent_at: float = 0.0) -> None:
    """rail-tasks' no-op."""
    _body(sent_at)


@django_task(backend="dtdb")
def dtdb_noop(sent_at: float = 0.0) -> None:
    """django-tasks-db's no-op."""
    _body(sent_at)
