"""The supervisor's LISTEN connection: reconnected with a growing back-off, what arrived sorted by kind."""

from __future__ import annotations

import logging

from django.db import DatabaseError

from rail_tasks.backends.database.guard import BACKOFF_MAX, BACKOFF_MIN
from rail_tasks.backends.database.notify import CANCEL_PREFIX, Listener

__all__ = ["ListenerLink"]

logger = logging.getLogger("rail_tasks.worker")


class ListenerLink:
    """A :class:`Listener` that reconnects itself (0.5 s doubling to 10 s) and splits payloads.

    Notifications only wake the worker: while disconnected it polls, and after
    a reconnect it must look for work it may have missed.
    """

    def __init__(self, using: str) -> None:
        self.listener = Listener(using)
        #: Monotonic time before which no reconnect is tried.
        self.retry_at = 0.0
        self.backoff = BACKOFF_MIN

    @property
    def supported(self) -> bool:
        """Whether the database has LISTEN/NOTIFY (PostgreSQL)."""
        return self.listener.supported

    @property
    def connected(self) -> bool:
        """Whether the LISTEN connection is up."""
        return self.listener.connected

    def connect(self, now: float) -> bool:
        """Connect when due; ``True`` when it just (re)connected (notifications may have been missed)."""
        if not self.supported or self.connected or now < self.retry_at:
            return False
        try:
            self.listener.connect()
        except DatabaseError as exc:
            logger.warning("LISTEN connection failed (%s); polling, retrying in %.1fs", exc, self.backoff)
            self.retry_at = now + self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
            return False
        self.backoff = BACKOFF_MIN
        return True

    def receive(self, now: float) -> tuple[set[str], set[str]]:
        """Drain what arrived: ``(execution ids asked to cancel, queue names with new work)``."""
        payloads = self.listener.drain()
        if not payloads and self.supported and not self.connected:
            self.retry_at = max(self.retry_at, now + self.backoff)  # the connection dropped: retry later
        cancels = {p.removeprefix(CANCEL_PREFIX) for p in payloads if p.startswith(CANCEL_PREFIX)}
        queues = {p for p in payloads if not p.startswith(CANCEL_PREFIX)}
        return cancels, queues

    def close(self) -> None:
        """Close the LISTEN connection."""
        self.listener.close()
