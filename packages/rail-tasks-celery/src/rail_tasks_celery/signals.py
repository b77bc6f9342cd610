"""Celery signal receivers: start and stop the sweeper with each worker."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready, worker_shutdown

from rail_tasks_celery.sweeper import Sweeper

__all__: list[str] = []

_sweepers: list[Sweeper] = []


@worker_ready.connect(weak=False)
def _start_sweeper(sender: Any = None, **kwargs: Any) -> None:
    app = getattr(sender, "app", None)
    if app is None:
        return
    sweeper = Sweeper(app)
    sweeper.start()
    _sweepers.append(sweeper)


@worker_shutdown.connect(weak=False)
def _stop_sweepers(sender: Any = None, **kwargs: Any) -> None:
    while _sweepers:
        _sweepers.pop().stop()
