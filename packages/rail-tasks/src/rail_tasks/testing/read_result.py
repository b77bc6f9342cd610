"""Read one task result in a fresh process and print it as JSON.

``python -m rail_tasks.testing.read_result <backend alias> <execution id>``
with ``DJANGO_SETTINGS_MODULE`` set. It proves ``get_result`` needs nothing but
the database: the process never saw the task being enqueued. Prints
``{"id", "status", "return_value", "attempts", "errors", "backend"}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["main", "read_result"]


def read_result(alias: str, execution_id: str) -> dict[str, Any]:
    """``task_backends[alias].get_result(execution_id)`` as a JSON-ready dict."""
    from django.tasks import TaskResultStatus, task_backends

    result = task_backends[alias].get_result(execution_id)
    return {
        "id": result.id,
        "status": str(result.status),
        "return_value": result.return_value if result.status == TaskResultStatus.SUCCESSFUL else None,
        "attempts": result.attempts,
        "errors": [error.exception_class_path for error in result.errors],
        "backend": result.backend,
        "task": result.task.module_path,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point: set Django up, read the result, print one JSON line."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        sys.stderr.write("usage: python -m rail_tasks.testing.read_result <backend alias> <execution id>\n")
        return 2
    import django

    django.setup()
    sys.stdout.write(json.dumps(read_result(args[0], args[1])) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
