"""The same no-op task body for both queues under comparison."""

from __future__ import annotations

import os
import time

from django.tasks import task as django_task

import rail_tasks


def _body(stamp: bool) -> None:
    """No work; with ``stamp``, write the wall-clock time of this first line to the benchmark's pipe.

    ``BENCH_PICKUP_FD`` names a pipe the benchmark created and the worker inherited
    (children of the worker's supervisor inherit it too); one short write is atomic.
    """
    if stamp:
        now = time.time()
        os.write(int(os.environ["BENCH_PICKUP_FD"]), f"{now!r}\n".encode())


@rail_tasks.task(max_retries=0)
def rail_noop(stamp: bool = False) -> None:
    """rail-tasks' no-op."""
    _body(stamp)


@django_task(backend="dtdb")
def dtdb_noop(stamp: bool = False) -> None:
    """django-tasks-db's no-op."""
    _body(stamp)
