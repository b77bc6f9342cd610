"""The worker's guard around database work: a database error never ends the worker.

Work that fails with a database error is logged, every connection of the
process is closed, and further database work waits for a growing back-off
(0.5 s doubling to 10 s). Writes that must happen (recording a timeout, a
lost child, a hand-back) wait in an outbox and are retried in order until
the database answers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from typing import Any

from django.db import DatabaseError, connections

__all__ = ["DatabaseGuard"]

logger = logging.getLogger("rail_tasks.worker")

BACKOFF_MIN = 0.5
BACKOFF_MAX = 10.0


class DatabaseGuard:
    """Back-off after database errors, and the outbox of writes that must happen."""

    def __init__(self) -> None:
        #: Monotonic time before which no database work is tried.
        self.retry_at = 0.0
        self.backoff = BACKOFF_MIN
        self.outbox: deque[tuple[str, Callable[[], object]]] = deque()

    def ready(self, now: float) -> bool:
        """Whether database work may be tried now."""
        return now >= self.retry_at

    @contextmanager
    def attempt(self, what: str) -> Iterator[None]:
        """Run a block of database work; on a database error log it, reconnect later and carry on."""
        try:
            yield
        except DatabaseError as exc:
            logger.warning("Database error while %s: %s; retrying in %.1fs", what, exc, self.backoff)
            for connection in connections.all(initialized_only=True):
                with suppress(DatabaseError):
                    connection.close()
            self.retry_at = time.monotonic() + self.backoff
            self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        else:
            self.backoff = BACKOFF_MIN

    def record(self, what: str, action: Callable[..., object], *args: Any, **kwargs: Any) -> None:
        """Queue a write that must happen, and try the outbox at once."""
        self.outbox.append((what, partial(action, *args, **kwargs)))
        self.flush()

    def flush(self, final: bool = False) -> None:
        """Run the queued writes in order while the database answers.

        With ``final`` (the worker is exiting), wait out the back-off, giving
        up after six failed attempts.
        """
        attempts = 0
        while self.outbox:
            now = time.monotonic()
            if not self.ready(now):
                if not final or attempts >= 6:
                    return
                time.sleep(max(0.0, self.retry_at - now))
            what, action = self.outbox[0]
            failed_before = self.retry_at
            with self.attempt(what):
                action()
                self.outbox.popleft()
            if self.retry_at != failed_before:
                attempts += 1
