"""Set up the SDK when the worker's Django starts."""

from __future__ import annotations

import os

from django.apps import AppConfig

DIR_ENV = "RAIL_TASKS_TEST_OTEL_DIR"
CELERY_ENV = "RAIL_TASKS_TEST_OTEL_CELERY_INSTRUMENTATION"


class SdkAppConfig(AppConfig):
    """Tracer provider with a batching JSON-lines exporter; Celery's instrumentation when asked."""

    name = "tests.rail_tasks_otel.sdkapp"
    label = "rail_tasks_otel_sdkapp"

    def ready(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        from tests.rail_tasks_otel.sdkapp.exporter import JsonLinesSpanExporter

        provider = TracerProvider(resource=Resource.create({"service.name": "rail-tasks-test-worker"}))
        provider.add_span_processor(
            BatchSpanProcessor(JsonLinesSpanExporter(os.environ[DIR_ENV]), schedule_delay_millis=600_000)
        )
        trace.set_tracer_provider(provider)
        if os.environ.get(CELERY_ENV):
            from opentelemetry.instrumentation.celery import CeleryInstrumentor

            CeleryInstrumentor().instrument()
