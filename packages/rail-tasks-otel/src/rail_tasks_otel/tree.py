"""Finished spans as an ASCII tree: what the demo prints and docs/otel.md shows.

Works on the SDK's ``ReadableSpan`` objects (what ``InMemorySpanExporter``
collects) without importing the SDK::

    trace 5b8aa5a2d2c872e8321cf37308d69df2
    └── POST /reports/  SERVER  412.0 ms
        └── send reports  PRODUCER  2.1 ms  rail_tasks.task.name=generate_report
            └── process reports  CONSUMER  3.02 s  rail_tasks.attempt=1  completed
                  · rail_tasks.progress  rail_tasks.progress=25 ...
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["DEFAULT_ATTRIBUTES", "render_tree"]

#: The attributes shown after a span's name, when present.
DEFAULT_ATTRIBUTES: tuple[str, ...] = (
    "rail_tasks.task.name",
    "rail_tasks.attempt",
    "rail_tasks.outcome",
    "error.type",
)


def _duration(span: Any) -> str:
    if span.start_time is None or span.end_time is None:
        return "unfinished"
    seconds = (span.end_time - span.start_time) / 1e9
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _attributes(values: Any, keys: Iterable[str]) -> str:
    values = values or {}
    return "  ".join(f"{key}={values[key]}" for key in keys if key in values)


def _label(span: Any, keys: Sequence[str]) -> str:
    parts = [span.name, span.kind.name, _duration(span), _attributes(span.attributes, keys)]
    if span.status.status_code.name == "ERROR":
        parts.append("ERROR")
    if span.links:
        parts.append(f"links={len(span.links)}")
    return "  ".join(part for part in parts if part)


def render_tree(spans: Iterable[Any], *, attributes: Sequence[str] = DEFAULT_ATTRIBUTES, events: bool = True) -> str:
    """One tree per trace: each span under its parent, children by start time, events below their span.

    :param spans: finished spans (``opentelemetry.sdk.trace.ReadableSpan``).
    :param attributes: attribute names shown after each span's name and kind.
    :param events: whether to list each span's events.
    """
    spans = list(spans)
    ids = {span.context.span_id for span in spans}
    children: dict[int | None, list[Any]] = defaultdict(list)
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children[parent].append(span)
    for group in children.values():
        group.sort(key=lambda s: s.start_time or 0)
    lines: list[str] = []

    def walk(span: Any, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{_label(span, attributes)}")
        inner = prefix + ("    " if last else "│   ")
        kids = children.get(span.context.span_id, [])
        if events:
            for event in span.events:
                detail = _attributes(
                    event.attributes, [k for k in (event.attributes or {}) if k != "exception.stacktrace"]
                )
                lines.append(f"{inner}{'│ ' if kids else '  '}  · {event.name}  {detail}".rstrip())
        for index, kid in enumerate(kids):
            walk(kid, inner, index == len(kids) - 1)

    roots = children.get(None, [])
    by_trace: dict[int, list[Any]] = defaultdict(list)
    for root in roots:
        by_trace[root.context.trace_id].append(root)
    for trace_id, trace_roots in by_trace.items():
        lines.append(f"trace {trace_id:032x}")
        for index, root in enumerate(trace_roots):
            walk(root, "", index == len(trace_roots) - 1)
    return "\n".join(lines)
