"""The real OpenTelemetry SDK in the test process: in-memory spans and delta metrics.

The global providers can be set once per process, so the first test that needs
them sets them; each test starts from an empty exporter and a fresh metrics
delta, and spans are recorded only inside the ``spans`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider, UpDownCounter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from rail_tasks.testing import wait_until

DELTA = AggregationTemporality.DELTA


def parent_id(span: ReadableSpan) -> int | None:
    """The span id of ``span``'s parent, or ``None`` for a root."""
    return span.parent.span_id if span.parent is not None else None


def attrs(span: Any) -> dict[str, Any]:
    """The attributes of a span (or span event) as a plain dict (empty when it has none)."""
    return dict(span.attributes or {})


@dataclass
class Sdk:
    """The process's SDK: the span exporter and the metric reader behind the global providers."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader


_sdk: Sdk | None = None


class _SwitchableTracer(trace.Tracer):
    """The SDK's tracer while a test records spans; the API's no-op tracer the rest of the session."""

    def __init__(self, real: trace.Tracer) -> None:
        self.real = real

    def _current(self) -> trace.Tracer:
        return self.real if _Switch.on else trace.NoOpTracer()

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._current().start_span(*args, **kwargs)

    @contextmanager
    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Iterator[trace.Span]:
        with self._current().start_as_current_span(*args, **kwargs) as span:
            yield span


class _SwitchableTracerProvider(trace.TracerProvider):
    """A global provider that records only inside the ``spans`` fixture.

    The global provider can be set once per process; without the switch, every
    test after the first otel test would carry trace context in its executions'
    metadata (and tests of other packages compare metadata exactly).
    """

    def __init__(self, real: TracerProvider) -> None:
        self.real = real

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _SwitchableTracer(self.real.get_tracer(*args, **kwargs))

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.real.force_flush(timeout_millis)


class _Switch:
    on = False


def install_sdk() -> Sdk:
    """Set the global tracer and meter providers once per process."""
    global _sdk
    if _sdk is None:
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(_SwitchableTracerProvider(provider))
        reader = InMemoryMetricReader(preferred_temporality={Counter: DELTA, UpDownCounter: DELTA, Histogram: DELTA})
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        _sdk = Sdk(exporter, reader)
    return _sdk


class Spans:
    """The spans finished during one test."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        """Every finished span, oldest first."""
        return list(self.exporter.get_finished_spans())

    def named(self, prefix: str) -> list[ReadableSpan]:
        """Finished spans whose name starts with ``prefix``, by start time."""
        return sorted((s for s in self.all() if s.name.startswith(prefix)), key=lambda s: s.start_time or 0)

    def one(self, prefix: str) -> ReadableSpan:
        """The only finished span whose name starts with ``prefix``."""
        found = self.named(prefix)
        assert len(found) == 1, f"expected one {prefix!r} span, got {[s.name for s in self.all()]}"
        return found[0]

    def wait(self, prefix: str, count: int = 1, timeout: float = 10.0) -> list[ReadableSpan]:
        """Wait until ``count`` spans named ``prefix...`` ended (a worker thread ends its span after the row)."""
        return wait_until(
            lambda: len(found := self.named(prefix)) >= count and found,
            timeout=timeout,
            message=f"fewer than {count} {prefix!r} spans ended: {[s.name for s in self.all()]}",
        )

    def for_execution(self, execution_id: str) -> list[ReadableSpan]:
        """Spans whose ``messaging.message.id`` is ``execution_id``, by start time."""
        return sorted(
            (s for s in self.all() if (s.attributes or {}).get("messaging.message.id") == str(execution_id)),
            key=lambda s: s.start_time or 0,
        )


@pytest.fixture
def spans() -> Iterator[Spans]:
    """The in-memory exporter, emptied before the test."""
    sdk = install_sdk()
    sdk.exporter.clear()
    _Switch.on = True
    try:
        yield Spans(sdk.exporter)
    finally:
        _Switch.on = False
        sdk.exporter.clear()


class Metrics:
    """Metric points recorded since the fixture started (delta temporality)."""

    def __init__(self, reader: InMemoryMetricReader) -> None:
        self.reader = reader
        self.points: dict[str, list[tuple[dict[str, Any], Any]]] = {}

    def collect(self) -> Metrics:
        """Read what was recorded since the last collection (added to what this object holds)."""
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else []:
            for scope_metrics in resource_metrics.scope_metrics:
                if scope_metrics.scope.name != "rail_tasks_otel":
                    continue
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        self.points.setdefault(metric.name, []).append((dict(point.attributes or {}), point))
        return self

    def total(self, name: str, match: dict[str, Any] | None = None) -> float:
        """The sum of a counter's (or up-down counter's) points whose attributes include ``match``."""
        return sum(p.value for attrs, p in self.points.get(name, []) if _matches(attrs, match))

    def count(self, name: str, match: dict[str, Any] | None = None) -> int:
        """How many values a histogram recorded, for points whose attributes include ``match``."""
        return sum(p.count for attrs, p in self.points.get(name, []) if _matches(attrs, match))

    def histogram_sum(self, name: str, match: dict[str, Any] | None = None) -> float:
        """The sum of a histogram's recorded values, for points whose attributes include ``match``."""
        return sum(p.sum for attrs, p in self.points.get(name, []) if _matches(attrs, match))


def _matches(attributes: dict[str, Any], match: dict[str, Any] | None) -> bool:
    return all(attributes.get(key) == value for key, value in (match or {}).items())


@pytest.fixture
def recorded_metrics() -> Metrics:
    """Metrics recorded from here on: ``recorded_metrics.collect().total("rail_tasks.executions.started")``."""
    sdk = install_sdk()
    sdk.reader.get_metrics_data()  # drop what earlier tests recorded
    return Metrics(sdk.reader)
