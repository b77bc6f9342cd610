"""The plugin's hook implementations; the entry point ``example_webhook`` names this module.

It uses only rail-tasks' public API: the ``hookimpl`` marker and the attributes
of the execution it is handed.
"""

from __future__ import annotations

import json
import logging
import os
from typing import TYPE_CHECKING, Any

from rail_tasks import hookimpl

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["FILE_ENV", "payload", "rail_tasks_complete", "rail_tasks_notify"]

#: Environment variable naming a JSON-lines file the events are appended to.
FILE_ENV = "RAIL_TASKS_EXAMPLE_WEBHOOK_FILE"

logger = logging.getLogger("rail_tasks_example_webhook")

# Results of completed executions, kept until their "completed" notify event is sent.
_results: dict[str, Any] = {}


def payload(execution: TaskExecution, event: str) -> dict[str, Any]:
    """The JSON body a webhook would receive for one change."""
    body: dict[str, Any] = {
        "event": event,
        "id": str(execution.id),
        "name": execution.name,
        "status": execution.status,
        "progress": execution.progress,
        "progress_message": execution.progress_message,
        "attempts": execution.attempts,
        "pid": os.getpid(),
    }
    if event == "completed":
        body["result"] = _results.pop(str(execution.id), None)
    if event in {"failed", "retrying"}:
        body["error"] = execution.error
    return body


def _send(body: dict[str, Any]) -> None:
    line = json.dumps(body, default=str)
    logger.info("webhook %s", line)
    path = os.environ.get(FILE_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


@hookimpl
def rail_tasks_complete(execution: TaskExecution, result: Any) -> None:
    """Remember the result; ``rail_tasks_notify`` fires right after and sends it."""
    _results[str(execution.id)] = result


@hookimpl
def rail_tasks_notify(execution: TaskExecution, event: str) -> None:
    """Send every change of every execution."""
    _send(payload(execution, event))
