"""What every benchmark script shares: its Django set-up against a PostgreSQL database of its own, percentiles."""

from __future__ import annotations

import os


def percentile(values: list[float], pct: float) -> float:
    """The ``pct`` percentile of ``values`` (nearest rank; ``nan`` when empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))]


def setup_django(env: dict[str, str]) -> None:
    """Apply ``env``, create its ``RAIL_TASKS_TEST_PG_NAME`` database if missing, set Django up and migrate."""
    os.environ.update(env)
    import psycopg

    name = env["RAIL_TASKS_TEST_PG_NAME"]
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def rates(
    count: int, enqueue_seconds: float, latencies: list[float], drain_seconds: float, pickups: list[float]
) -> dict[str, float]:
    """One row of a side-by-side table: enqueue and drain rates, enqueue and pickup percentiles in ms."""
    return {
        "enqueue_per_s": count / enqueue_seconds,
        "enqueue_p50_ms": percentile(latencies, 50) * 1000,
        "enqueue_p99_ms": percentile(latencies, 99) * 1000,
        "drain_per_s": count / drain_seconds,
        "pickup_p50_ms": percentile(pickups, 50) * 1000,
        "pickup_p99_ms": percentile(pickups, 99) * 1000,
    }
