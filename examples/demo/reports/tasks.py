"""The demo's long "report" task: it reports progress as it works."""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

import rail_tasks

STEPS = ("Fetching data", "Cleaning rows", "Aggregating", "Rendering charts", "Writing PDF")


@rail_tasks.task(name="generate_report", track_progress=True, max_retries=2, retry_delay=1)
def generate_report(dataset_id: str, rows: int, seconds: float) -> dict[str, Any]:
    """Crunch ``rows`` fake rows in about ``seconds``, reporting progress along the way."""
    task = rail_tasks.current_task()
    assert task is not None
    digest = hashlib.sha256(dataset_id.encode())
    pause = seconds / rows
    for row in range(1, rows + 1):
        digest.update(str(random.random()).encode())
        time.sleep(pause)
        step = STEPS[min((row - 1) * len(STEPS) // rows, len(STEPS) - 1)]
        task.update_progress(row * 100 // rows, f"{step} ({row}/{rows})")
    return {"dataset_id": dataset_id, "rows": rows, "checksum": digest.hexdigest()[:12]}
