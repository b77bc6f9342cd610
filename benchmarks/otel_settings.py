"""Settings of benchmarks/otel.py: the benchmark settings plus one OpenTelemetry set-up, from ``BENCH_OTEL``.

* ``off``: rail-tasks-otel not loaded (the baseline);
* ``api``: rail-tasks-otel loaded, no SDK set up (what installing the extra alone costs);
* ``sdk``: the SDK's tracer provider with a batching span processor and an exporter that drops spans;
* ``sdk-metrics``: ``sdk`` plus a meter provider exporting to nowhere every 5 s, and ``metrics_enabled``.

PostgreSQL database ``BENCH_PG_NAME`` (``rail_tasks_bench_otel`` by default).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("BENCH_PG_NAME", "rail_tasks_bench_otel")

from benchmarks.settings import *  # noqa: F403
from benchmarks.settings import RAIL_TASKS

VARIANT = os.environ.get("BENCH_OTEL", "off")
if VARIANT not in {"off", "api", "sdk", "sdk-metrics"}:
    raise ValueError(f"BENCH_OTEL={VARIANT!r}: expected off, api, sdk or sdk-metrics")

if VARIANT != "off":
    RAIL_TASKS = {**RAIL_TASKS, "plugins": ["rail_tasks_otel.hooks"], "metrics_enabled": VARIANT == "sdk-metrics"}

if VARIANT.startswith("sdk"):
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        MetricExporter,
        MetricExportResult,
        MetricsData,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class DroppingSpanExporter(SpanExporter):
        """Accepts every batch and keeps nothing: the SDK's cost without an exporter's."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    class DroppingMetricExporter(MetricExporter):
        """Accepts every collection and keeps nothing."""

        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
        ) -> MetricExportResult:
            return MetricExportResult.SUCCESS

        def force_flush(self, timeout_millis: float = 10_000) -> bool:
            return True

        def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
            return None

    _provider = TracerProvider()
    _provider.add_span_processor(BatchSpanProcessor(DroppingSpanExporter()))
    trace.set_tracer_provider(_provider)
    if VARIANT == "sdk-metrics":
        metrics.set_meter_provider(
            MeterProvider(
                metric_readers=[PeriodicExportingMetricReader(DroppingMetricExporter(), export_interval_millis=5000)]
            )
        )
