"""One heartbeat thread per worker process: leases, cancel requests and hard timeouts.

Every ``interval`` seconds it renews the leases of the attempts this process
runs (:mod:`rail_tasks.engine.leases`) and reads whether any was asked to stop;
at each attempt's deadline it marks the timeout. Either way the attempt is then
interrupted through its engine's strategy (:mod:`rail_tasks.engine.interrupts`),
again every few milliseconds until the function has stopped. Attempts whose
engine gave no strategy stop at their next ``update_progress``.

Signal handlers and other threads wake it through a pipe (:func:`poke`:
one non-blocking ``os.write``, safe in a signal handler).
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time

from django.db import close_old_connections, connections

from rail_tasks.engine.attempts import RunningAttempt, active_attempts
from rail_tasks.engine.leases import renew_leases

__all__ = ["RESIGNAL_SECONDS", "ensure_started", "poke"]

logger = logging.getLogger("rail_tasks.engine")

#: Seconds between two interrupts of a function that must stop.
RESIGNAL_SECONDS = 0.05

_started_pid: int | None = None
_interval = 10.0
_start_lock = threading.Lock()
_pipe: tuple[int, int] | None = None
_reported_lost: set[tuple[str, int]] = set()


def ensure_started(interval: float) -> None:
    """Start this process's heartbeat thread if it is not running (at most ``interval`` s between beats)."""
    global _started_pid, _interval, _pipe
    pid = os.getpid()
    if _started_pid == pid:
        if interval < _interval:
            _interval = interval
            poke()
        return
    with _start_lock:
        if _started_pid == pid:
            return
        _interval = interval
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        _pipe = (read_end, write_end)
        thread = threading.Thread(target=_loop, args=(read_end,), name="rail-tasks-heartbeat", daemon=True)
        thread.start()
        _started_pid = pid


def poke() -> None:
    """Run a heartbeat pass now (safe from a signal handler)."""
    if _pipe is not None and _started_pid == os.getpid():
        with contextlib.suppress(OSError):  # a full pipe already means "wake up"
            os.write(_pipe[1], b"!")


def _loop(read_end: int) -> None:
    next_beat = 0.0
    while True:
        now = time.monotonic()
        attempts = active_attempts()
        for attempt in attempts:
            deadline = attempt.deadline
            if deadline is not None and now >= deadline and attempt.in_user_code and not attempt.timeout_pending:
                attempt.timeout_pending = True
        if now >= next_beat:
            next_beat = now + _interval
            try:
                _beat([a for a in attempts if a.in_user_code or a.lease_seconds])
            except Exception:
                logger.exception("rail-tasks heartbeat failed; retrying")
                connections.close_all()
        for attempt in attempts:
            if attempt.interrupt_pending and attempt.interrupts is not None:
                attempt.interrupts.interrupt(attempt)
        _wait(read_end, _next_wake(attempts, next_beat) - time.monotonic())


def _next_wake(attempts: list[RunningAttempt], next_beat: float) -> float:
    wake = next_beat
    for attempt in attempts:
        if attempt.interrupt_pending:
            return time.monotonic() + RESIGNAL_SECONDS
        deadline = attempt.deadline
        if deadline is not None and not attempt.timeout_pending:
            wake = min(wake, deadline)
    return wake


def _wait(read_end: int, timeout: float) -> None:
    ready, _, _ = select.select([read_end], [], [], max(timeout, 0.0))
    if ready:
        with contextlib.suppress(OSError):
            os.read(read_end, 4096)


def _beat(attempts: list[RunningAttempt]) -> None:
    """Renew leases and read cancel requests of the attempts running here."""
    if not attempts:
        return
    close_old_connections()
    by_lease: dict[float | None, list[RunningAttempt]] = {}
    for attempt in attempts:
        by_lease.setdefault(attempt.lease_seconds, []).append(attempt)
    for lease_seconds, group in by_lease.items():
        report = renew_leases([(a.pk, a.attempt) for a in group], lease_seconds)
        for attempt in group:
            if attempt.pk in report.cancel_requested and attempt.in_user_code:
                attempt.cancel_confirmed = True
            elif attempt.pk in report.lost and (attempt.pk, attempt.attempt) not in _reported_lost:
                _reported_lost.add((attempt.pk, attempt.attempt))
                logger.warning(
                    "Execution %s attempt %d lost its lease (taken over after it expired); its outcome will be "
                    "discarded",
                    attempt.pk,
                    attempt.attempt,
                )
