"""A test app that sets up the OpenTelemetry SDK in worker subprocesses (spans to JSON-lines files).

Installed by ``settings_extra`` only when ``RAIL_TASKS_TEST_OTEL_DIR`` is set,
which the cross-process tests do for the workers they start. Spans are batched
with a ten-minute delay, so a span reaches its file only when the process
flushes: what rail-tasks-otel does on ``rail_tasks_worker_stop``.
"""
