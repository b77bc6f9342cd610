"""Tasks for the rail-tasks-otel tests: a span inside a task, slow progress."""

from __future__ import annotations

import os
import time

from opentelemetry import trace

import rail_tasks


@rail_tasks.task(name="traced_child_span")
def traced_child_span(label: str) -> dict[str, str]:
    """Opens a span of its own (it must land under the attempt's span) and returns the ids it saw."""
    with trace.get_tracer("tests").start_as_current_span(f"inside {label}") as span:
        context = span.get_span_context()
        return {"trace_id": f"{context.trace_id:032x}", "pid": str(os.getpid())}


@rail_tasks.task(name="slow_progress", track_progress=True)
def slow_progress(steps: int, pause: float) -> int:
    """Reports progress ``steps`` times, ``pause`` seconds apart."""
    handle = rail_tasks.current_task()
    assert handle is not None
    for step in range(1, steps + 1):
        handle.update_progress(step * 100 // steps, f"step {step}")
        time.sleep(pause)
    return steps


@rail_tasks.task(name="enqueues_another")
def enqueues_another() -> str:
    """Enqueues ``traced_child_span`` from inside a task (its ``send`` span lands under this attempt)."""
    return str(traced_child_span.enqueue("nested").id)
