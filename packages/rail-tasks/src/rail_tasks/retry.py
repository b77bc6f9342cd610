"""How long to wait before the next attempt."""

from __future__ import annotations

import random

__all__ = ["JITTER_FRACTION", "retry_delay_seconds", "scheduled_delay_seconds"]

#: Jitter adds up to this fraction of the scheduled delay (never subtracts).
JITTER_FRACTION = 0.25


def scheduled_delay_seconds(attempt: int, *, base: float, backoff: bool, cap: float) -> float:
    """The configured wait after failed ``attempt`` (1-based), before jitter.

    ``base`` without backoff; with backoff ``base * 2 ** (attempt - 1)``, at most ``cap``.
    """
    if base <= 0:
        return 0.0
    if not backoff:
        return float(base)
    return float(min(cap, base * 2 ** max(attempt - 1, 0)))


def retry_delay_seconds(attempt: int, *, base: float, backoff: bool, cap: float) -> float:
    """Seconds to wait after failed ``attempt`` (1-based) before the next one.

    Never earlier than :func:`scheduled_delay_seconds`: with backoff, a random
    jitter of up to :data:`JITTER_FRACTION` of the scheduled delay is *added*
    (so many tasks failing together do not retry in lockstep), and the sum
    still never exceeds ``cap``. Without backoff the delay is exactly ``base``.
    """
    scheduled = scheduled_delay_seconds(attempt, base=base, backoff=backoff, cap=cap)
    if not backoff or scheduled <= 0:
        return scheduled
    jitter = random.uniform(0, scheduled * JITTER_FRACTION)  # noqa: S311 - jitter, not security
    return float(max(scheduled, min(float(cap), scheduled + jitter)))
