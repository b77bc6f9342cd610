"""rail-tasks-otel: OpenTelemetry spans, context propagation and metrics for rail-tasks, through hooks only.

Installed, the plugin registers itself (entry point ``otel``); with no
OpenTelemetry SDK configured it records nothing. The names of spans,
attributes, events and metrics are in :mod:`rail_tasks_otel.attributes`,
:mod:`rail_tasks_otel.tracing` and :mod:`rail_tasks_otel.metrics`;
docs/otel.md is the guide.
"""

from __future__ import annotations

from rail_tasks_otel.__about__ import __version__
from rail_tasks_otel.flushing import flush
from rail_tasks_otel.tree import render_tree

__all__ = ["__version__", "flush", "render_tree"]
