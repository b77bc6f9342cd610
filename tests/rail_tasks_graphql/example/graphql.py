"""The seeds' task mutations, as a project would write them (``myapp/graphql.py``)."""

from __future__ import annotations

import time
from typing import Any

import graphene
from asgiref.sync import sync_to_async

from rail_tasks_graphql import task_mutation


def fetch_data(dataset_id: str) -> list[int]:
    return [len(dataset_id), 2, 3]


def process_data(data: list[int]) -> int:
    return sum(data)


def create_report(total: int) -> str:
    return f"/reports/report-{total}.pdf"


@task_mutation(name="generate_report", track_progress=True)
def generate_report(root, info, dataset_id: str):  # type: ignore[no-untyped-def]
    """
    Generate a report asynchronously.

    Args:
        dataset_id: The dataset identifier.

    Returns:
        Task result.
    """
    # Update progress
    info.context.task.update_progress(25, "Fetching data...")
    data = fetch_data(dataset_id)

    info.context.task.update_progress(50, "Processing...")
    processed = process_data(data)

    info.context.task.update_progress(75, "Generating file...")
    file_path = create_report(processed)

    info.context.task.update_progress(100, "Complete")
    return {"ok": True, "file_path": file_path, "dataset_id": dataset_id}


@task_mutation(
    name="process_order",
    queue="orders",
    max_retries=5,
    retry_delay=60,
    timeout=300,
    track_progress=True,
)
def process_order(root, info, order_id: str):  # type: ignore[no-untyped-def]
    """
    Process an order asynchronously.
    """
    return {"ok": True, "status": "processed", "order_id": order_id}


@task_mutation(
    max_retries=3,
    retry_delay=0,  # seconds
    retry_backoff=True,  # exponential backoff
)
def flaky_external_call(root, info, data: str, fail_times: int = 0):  # type: ignore[no-untyped-def]
    """
    Task with automatic retry on failure.
    """
    if info.context.task.attempt <= fail_times:
        raise ConnectionError(f"external API down (attempt {info.context.task.attempt})")
    return f"called with {data}"


@task_mutation(track_progress=True)
def bulk_import(root, info, records: list[str], note: str | None = None) -> dict[str, Any]:
    total = len(records)
    for i, _record in enumerate(records):
        info.context.task.update_progress(int((i + 1) / total * 100), f"Processed {i + 1}/{total}")
    return {"ok": True, "imported": total, "note": note}


@task_mutation
def whoami(root, info) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Report who the task runs for and what its context holds."""
    user = info.context.user
    return {
        "username": user.get_username() if user.is_authenticated else None,
        "authenticated": bool(user.is_authenticated),
        "task_id": info.context.task.id,
        "context_keys": sorted(k for k in ("META", "COOKIES", "headers", "session") if hasattr(info.context, k)),
    }


@task_mutation
async def async_whoami(root, info, note: str = "") -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """An ``async def`` task mutation: the same ``info``; database calls go through ``sync_to_async``."""
    await sync_to_async(info.context.task.update_progress)(50, "halfway (async)")
    return {"username": info.context.user.get_username(), "note": note}


@task_mutation(max_retries=0)
def always_fails(root, info, message: str) -> None:  # type: ignore[no-untyped-def]
    raise ValueError(message)


@task_mutation(track_progress=True)
def slow_steps(root, info, steps: int = 4, delay: float = 0.05) -> int:  # type: ignore[no-untyped-def]
    for step in range(1, steps + 1):
        info.context.task.update_progress(int(step / steps * 100), f"step {step}")
        time.sleep(delay)
    return steps


@task_mutation(track_progress=True)
def stamped_progress(root, info, steps: int = 20) -> int:  # type: ignore[no-untyped-def]
    """Report ``steps`` progress updates whose message is the wall-clock time they were sent (latency probes)."""
    for step in range(1, steps + 1):
        info.context.task.update_progress(int(step / steps * 100), f"{time.time():.6f}")
    return steps


class TaskMutations(graphene.ObjectType):
    generate_report = generate_report
    process_order = process_order
    flaky_external_call = flaky_external_call
    bulk_import = bulk_import
    whoami = whoami
    async_whoami = async_whoami
    always_fails = always_fails
    slow_steps = slow_steps
    stamped_progress = stamped_progress
