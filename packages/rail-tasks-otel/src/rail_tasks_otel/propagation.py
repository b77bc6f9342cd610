"""What travels with an execution from the web process to the worker: ``metadata["otel"]``.

::

    {"otel": {"context": {"traceparent": "00-...-...-01", "tracestate": "..."}, "enqueued_at": 1767225600.25}}

``context`` is written by the globally configured propagator
(``opentelemetry.propagate``: W3C trace context and baggage unless the
project chose others), so it is whatever that propagator writes into HTTP
headers. ``enqueued_at`` (epoch seconds) is there only with
``metrics_enabled``; the queue-wait histogram reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, SpanContext

    from rail_tasks import TaskExecution

__all__ = ["METADATA_KEY", "carrier_of", "creation_context", "enqueued_at", "inject", "span_context_of"]

#: The key of ``TaskExecution.metadata`` this plugin owns.
METADATA_KEY: Final = "otel"


def inject(span: Span) -> dict[str, str]:
    """The propagation headers of ``span`` (empty when it has no valid context, e.g. without an SDK)."""
    carrier: dict[str, str] = {}
    if span.get_span_context().is_valid:
        propagate.inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def _section(metadata: Any) -> dict[str, Any]:
    section = metadata.get(METADATA_KEY) if isinstance(metadata, dict) else None
    return section if isinstance(section, dict) else {}


def carrier_of(execution: TaskExecution) -> dict[str, str]:
    """The propagation headers stored on ``execution`` (empty when none)."""
    carrier = _section(execution.metadata).get("context")
    if not isinstance(carrier, dict):
        return {}
    return {str(k): str(v) for k, v in carrier.items()}


def creation_context(execution: TaskExecution) -> Context | None:
    """The context of the producer span that created ``execution``, or ``None`` when it has none."""
    carrier = carrier_of(execution)
    if not carrier:
        return None
    return propagate.extract(carrier)


def span_context_of(context: Context | None) -> SpanContext | None:
    """The valid span context inside ``context``, or ``None``."""
    if context is None:
        return None
    span_context = trace.get_current_span(context).get_span_context()
    return span_context if span_context.is_valid else None


def enqueued_at(execution: TaskExecution) -> float | None:
    """When the execution was (last) enqueued, epoch seconds, if recorded."""
    value = _section(execution.metadata).get("enqueued_at")
    return float(value) if isinstance(value, int | float) else None
