"""Flush the global tracer and meter providers before a worker process exits.

A worker's children (database worker children, Celery pool processes) often
leave through ``os._exit``, which skips the SDK's own ``atexit`` shutdown:
spans still queued in a ``BatchSpanProcessor`` would be lost. The core fires
``rail_tasks_worker_stop`` before such an exit; this plugin flushes there.
"""

from __future__ import annotations

import logging
from typing import Final

from opentelemetry import metrics, trace

__all__ = ["FLUSH_TIMEOUT_MILLIS", "flush"]

logger = logging.getLogger("rail_tasks_otel")

#: How long one provider's flush may take before the process goes on exiting.
FLUSH_TIMEOUT_MILLIS: Final = 5000


def flush(timeout_millis: int = FLUSH_TIMEOUT_MILLIS) -> bool:
    """``force_flush`` the global tracer and meter providers, where they support it.

    Returns whether every provider that supports flushing flushed in time
    (``True`` without an SDK: there is nothing to flush).
    """
    ok = True
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if not callable(force_flush):
            continue
        try:
            flushed = force_flush(timeout_millis=timeout_millis)
        except Exception:  # an exporter's failure must not stop the worker from exiting
            logger.exception("Flushing OpenTelemetry's %s failed", type(provider).__name__)
            ok = False
            continue
        if flushed is False:
            logger.warning("Flushing OpenTelemetry's %s timed out after %d ms", type(provider).__name__, timeout_millis)
            ok = False
    return ok
