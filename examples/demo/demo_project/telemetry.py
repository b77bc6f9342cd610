"""OpenTelemetry for the demo's ``--trace``: every process writes its spans to a directory, the demo draws the tree.

A project would export to a collector (OTLP) instead; the demo keeps the
spans on disk so it can print them. Each process (the demo, the worker's
supervisor and its children) sets up the SDK from its settings when
``DEMO_TRACE_DIR`` is set, with a batching span processor: rail-tasks-otel
flushes it before a worker process exits.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode


class DirectorySpanExporter(SpanExporter):
    """Append each span, as one JSON line, to ``<directory>/spans-<pid>.jsonl``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with (self.directory / f"spans-{os.getpid()}.jsonl").open("a") as out:
            for span in spans:
                out.write(json.dumps(_to_dict(span)) + "\n")
        return SpanExportResult.SUCCESS


def setup_tracing(directory: str | Path, service: str = "rail-tasks-demo") -> None:
    """The three lines of docs/otel.md, with this exporter."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(DirectorySpanExporter(directory)))
    trace.set_tracer_provider(provider)


def _to_dict(span: ReadableSpan) -> dict[str, Any]:
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": context.trace_id,
        "span_id": context.span_id,
        "parent_id": span.parent.span_id if span.parent else None,
        "start": span.start_time,
        "end": span.end_time,
        "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
        "events": [{"name": e.name, "time": e.timestamp, "attributes": dict(e.attributes or {})} for e in span.events],
        "links": [link.context.span_id for link in span.links],
    }


def _from_dict(data: dict[str, Any]) -> ReadableSpan:
    def context(span_id: int) -> SpanContext:
        return SpanContext(data["trace_id"], span_id, is_remote=False)

    return ReadableSpan(
        name=data["name"],
        context=context(data["span_id"]),
        parent=context(data["parent_id"]) if data["parent_id"] else None,
        kind=SpanKind[data["kind"]],
        start_time=data["start"],
        end_time=data["end"],
        status=Status(StatusCode[data["status"]]),
        attributes=data["attributes"],
        events=[Event(e["name"], e["attributes"], e["time"]) for e in data["events"]],
        links=[Link(context(span_id)) for span_id in data["links"]],
    )


def read_spans(directory: str | Path) -> list[ReadableSpan]:
    """Every span the demo's processes wrote to ``directory``."""
    return [
        _from_dict(json.loads(line))
        for path in sorted(Path(directory).glob("spans-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
