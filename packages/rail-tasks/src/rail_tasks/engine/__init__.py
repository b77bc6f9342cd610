"""The engine kit: everything an engine package needs beyond its transport.

An engine package (``rail-tasks-celery``, ``rail-tasks-dramatiq``,
``rail-tasks-djangoq``, or your own) is a :class:`BrokerBackend` subclass that
sends "run execution <id>" to its engine, plus a worker job that calls
:func:`deliver`. The kit supplies the rest, and the ``database`` worker uses
the same pieces:

* :func:`deliver`: run one delivered execution (claim, lease, heartbeat,
  duplicate and early redeliveries, connection hygiene);
* :class:`SignalInterrupts` / :class:`ThreadInterrupts`: stop a running task
  on cancel or at its timeout, in process pools or threaded workers;
* :func:`heartbeat.ensure_started <rail_tasks.engine.heartbeat.ensure_started>`: the one heartbeat;
* :func:`reap` / :class:`Reaper`: expired leases and lost messages;
* :func:`fail_running_attempt`: failures noticed outside the task;
* :func:`worker_started` / :func:`worker_stopping`: the process hooks;
* :class:`BrokerBackend`, :func:`scale_priority`.

See docs/writing-plugins.md, "Writing an engine". Names load lazily, so
importing one module of the kit does not import the others.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rail_tasks.engine.attempts import RunningAttempt, active_attempts, current_attempt, main_thread_attempt
    from rail_tasks.engine.broker import BrokerBackend, scale_priority
    from rail_tasks.engine.delivery import deliver, fail_running_attempt, fresh_connections, is_due
    from rail_tasks.engine.interrupts import Interrupts, SignalInterrupts, ThreadInterrupts, in_database_call
    from rail_tasks.engine.leases import LeaseReport, renew_leases
    from rail_tasks.engine.process import worker_started, worker_stopping
    from rail_tasks.engine.reaper import Reaper, ReapReport, engines_of, reap, reap_one

__all__ = [
    "BrokerBackend",
    "Interrupts",
    "LeaseReport",
    "ReapReport",
    "Reaper",
    "RunningAttempt",
    "SignalInterrupts",
    "ThreadInterrupts",
    "active_attempts",
    "current_attempt",
    "deliver",
    "engines_of",
    "fail_running_attempt",
    "fresh_connections",
    "in_database_call",
    "is_due",
    "main_thread_attempt",
    "reap",
    "reap_one",
    "renew_leases",
    "scale_priority",
    "worker_started",
    "worker_stopping",
]

_MODULES = {
    "RunningAttempt": "attempts",
    "active_attempts": "attempts",
    "current_attempt": "attempts",
    "main_thread_attempt": "attempts",
    "BrokerBackend": "broker",
    "scale_priority": "broker",
    "deliver": "delivery",
    "fail_running_attempt": "delivery",
    "fresh_connections": "delivery",
    "is_due": "delivery",
    "Interrupts": "interrupts",
    "SignalInterrupts": "interrupts",
    "ThreadInterrupts": "interrupts",
    "in_database_call": "interrupts",
    "LeaseReport": "leases",
    "renew_leases": "leases",
    "worker_started": "process",
    "worker_stopping": "process",
    "ReapReport": "reaper",
    "Reaper": "reaper",
    "reap": "reaper",
    "reap_one": "reaper",
    "engines_of": "reaper",
}


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'rail_tasks.engine' has no attribute {name!r}")
    return getattr(import_module(f"rail_tasks.engine.{module}"), name)
