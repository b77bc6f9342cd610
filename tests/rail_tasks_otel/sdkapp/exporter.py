"""A span exporter writing one JSON object per line, one file per process, and its reader."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class JsonLinesSpanExporter(SpanExporter):
    """Append each exported span to ``<directory>/spans-<pid>.jsonl``."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with (self.directory / f"spans-{os.getpid()}.jsonl").open("a") as out:
            for span in spans:
                out.write(json.dumps({**json.loads(span.to_json(indent=None)), "pid": os.getpid()}) + "\n")
        return SpanExportResult.SUCCESS


@dataclass
class ExportedSpan:
    """A span read back from a JSON-lines file."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str | None
    status: str
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    links: list[str]
    pid: int
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> ExportedSpan:
        """From the SDK's ``to_json`` form (ids are ``0x``-prefixed hex)."""
        return cls(
            name=data["name"],
            kind=data["kind"].removeprefix("SpanKind."),
            trace_id=data["context"]["trace_id"].removeprefix("0x"),
            span_id=data["context"]["span_id"].removeprefix("0x"),
            parent_id=data["parent_id"].removeprefix("0x") if data.get("parent_id") else None,
            status=data["status"]["status_code"],
            attributes=data.get("attributes") or {},
            events=data.get("events") or [],
            links=[link["context"]["span_id"].removeprefix("0x") for link in data.get("links") or []],
            pid=data["pid"],
            raw=data,
        )


def read_spans(directory: str | Path) -> list[ExportedSpan]:
    """Every span exported into ``directory`` so far."""
    found: list[ExportedSpan] = []
    for path in sorted(Path(directory).glob("spans-*.jsonl")):
        for line in path.read_text().splitlines():
            if line.strip():
                found.append(ExportedSpan.parse(json.loads(line)))
    return found
