"""A Redis client for the benchmark's counters (one per process)."""

from __future__ import annotations

import os
from functools import cache

import redis


@cache
def client() -> redis.Redis:
    """Client for the benchmark's counters (``RAIL_BENCH_REDIS``, default Redis DB 2)."""
    return redis.Redis.from_url(os.environ.get("RAIL_BENCH_REDIS", "redis://127.0.0.1:6379/2"))
