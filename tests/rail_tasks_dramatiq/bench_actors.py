"""benchmarks/dramatiq.py's worker side: the plain actors, the tracking floor, and a start gate.

Loaded after ``rail_tasks_dramatiq.worker`` on the ``dramatiq`` command line,
so everything is declared on the broker the rail actor uses.
"""

from __future__ import annotations

import os
import time
from functools import cache
from typing import Any

import dramatiq
import redis
from dramatiq import Middleware

RUN = os.environ.get("RAIL_TASKS_TEST_DRAMATIQ_RUN", "bench")


@cache
def client() -> redis.Redis:
    """Client for the benchmark's counters (``RAIL_BENCH_REDIS``)."""
    return redis.Redis.from_url(os.environ.get("RAIL_BENCH_REDIS", "redis://127.0.0.1:6379/9"))


def bench_body(key: str) -> None:
    """The benchmarked no-op: count the run, or stamp its start when ``key`` ends with ``:stamp``."""
    if key.endswith(":stamp"):
        client().rpush(key, repr(time.time()))
        return
    client().incr(key)


@dramatiq.actor(actor_name="rail_bench.plain_noop", queue_name=f"bench-{RUN}-plain")
def plain_noop(key: str) -> None:
    """``bench_body`` as a plain Dramatiq actor (Dramatiq's default options)."""
    bench_body(key)


#: The least a tracked execution must write, as raw SQL on rail's own table (PostgreSQL).
_FLOOR_CLAIM = (
    "UPDATE rail_tasks_taskexecution SET status = 'running', attempts = attempts + 1, "
    "started_at = COALESCE(started_at, now()), heartbeat_at = now() "
    "WHERE id = %s AND status IN ('pending', 'retrying')"
)
_FLOOR_FINISH = (
    "UPDATE rail_tasks_taskexecution SET status = 'completed', progress = 100, completed_at = now() "
    "WHERE id = %s AND status = 'running' AND attempts = 1"
)


@dramatiq.actor(actor_name="rail_bench.tracking_floor", queue_name=f"bench-{RUN}-floor")
def tracking_floor(key: str, execution_id: str) -> None:
    """``bench_body`` between the two raw UPDATEs no tracking can do without (claim and outcome)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_FLOOR_CLAIM, [execution_id])
    bench_body(key)
    with connection.cursor() as cursor:
        cursor.execute(_FLOOR_FINISH, [execution_id])


class StartGate(Middleware):
    """Each worker process reports in and waits for ``bench:<run>:go`` before consuming (drain timed from there)."""

    def before_worker_boot(self, broker: Any, worker: Any) -> None:
        """Report ready, then wait for the go."""
        client().sadd(f"bench:{RUN}:ready", os.getpid())
        while not client().exists(f"bench:{RUN}:go"):
            time.sleep(0.005)


dramatiq.get_broker().add_middleware(StartGate())
