"""Celery signal receivers: the kit's reaper in each worker's main process, process hooks in each child."""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown
from django.conf import settings
from django.tasks import task_backends

from rail_tasks.engine import Reaper, worker_started, worker_stopping

__all__: list[str] = []

_reapers: list[Reaper] = []


def _aliases(app: object) -> list[str]:
    """The ``TASKS`` aliases whose ``CeleryBackend`` sends through ``app``."""
    from rail_tasks_celery.backend import CeleryBackend

    found = []
    for alias in getattr(settings, "TASKS", {}):
        try:
            backend = task_backends[alias]
        except Exception:  # noqa: S112 - a broken alias is reported by Django's checks
            continue
        if isinstance(backend, CeleryBackend) and backend.app is app:
            found.append(alias)
    return found


@worker_ready.connect(weak=False)
def _start_reaper(sender: Any = None, **kwargs: Any) -> None:
    app = getattr(sender, "app", None)
    aliases = _aliases(app) if app is not None else []
    if not aliases:
        return
    backend: Any = task_backends[aliases[0]]
    reaper = Reaper(lambda: _aliases(app), interval=backend.reap_interval, resubmit_after=backend.resubmit_after)
    reaper.start()
    _reapers.append(reaper)
    worker_started(f"celery-main:{getattr(sender, 'hostname', '')}:{os.getpid()}")


@worker_shutdown.connect(weak=False)
def _stop_reapers(sender: Any = None, **kwargs: Any) -> None:
    while _reapers:
        _reapers.pop().stop()
    worker_stopping()


@worker_process_init.connect(weak=False)
def _child_started(**kwargs: Any) -> None:
    worker_started(f"celery-child:{os.getpid()}")


@worker_process_shutdown.connect(weak=False)
def _child_stopping(**kwargs: Any) -> None:
    worker_stopping()
