"""How long to wait before the next attempt."""

from __future__ import annotations

import random

__all__ = ["retry_delay_seconds"]


def retry_delay_seconds(attempt: int, *, base: float, backoff: bool, cap: float) -> float:
    """Seconds to wait after failed ``attempt`` (1-based) before the next one.

    Without backoff the delay is ``base``. With backoff it doubles each attempt
    (``base * 2 ** (attempt - 1)``), is capped at ``cap``, and gets "equal
    jitter": a random value between half and all of it, so many tasks failing
    together do not retry in lockstep.
    """
    if base <= 0:
        return 0.0
    if not backoff:
        return float(base)
    ceiling = min(cap, base * 2 ** max(attempt - 1, 0))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not security
