"""Run every benchmark in turn (``./dev bench``); each prints its own table.

Extra arguments are passed to none of them: run a script directly to tune it
(see benchmarks/README.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = (
    ("database backend vs django-tasks-db", [sys.executable, "benchmarks/database.py"]),
    ("rail-tasks on Celery vs plain Celery", [sys.executable, "-m", "benchmarks.celery"]),
    ("rail-tasks on Dramatiq vs plain Dramatiq", [sys.executable, "-m", "benchmarks.dramatiq"]),
    ("rail-tasks on Django-Q2 vs plain async_task", [sys.executable, "-m", "benchmarks.djangoq"]),
)


def main() -> int:
    status = 0
    for title, command in BENCHMARKS:
        print(f"\n=== {title}: {' '.join(command[1:])}", flush=True)
        status |= subprocess.run(command, cwd=REPO, check=False).returncode
    return status


if __name__ == "__main__":
    sys.exit(main())
