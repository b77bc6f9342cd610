"""Spans in one process with the real SDK: the sync and thread backends."""

from __future__ import annotations

import pytest
from django.test import override_settings
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from rail_tasks import Status, TaskExecution, cancel_execution, retry_execution
from rail_tasks.testing import wait_for_status, wait_until
from rail_tasks_otel import render_tree, tracing
from tests.rail_tasks_otel.conftest import Spans, attrs, parent_id
from tests.taskapp import tasks, tasks_otel

pytestmark = pytest.mark.django_db(transaction=True)

tracer = trace.get_tracer("tests")


def span_id(span: ReadableSpan) -> int:
    return span.context.span_id


def assert_producer_consumer(send: ReadableSpan, process: ReadableSpan) -> None:
    """``process`` is a CONSUMER child of the PRODUCER ``send``, linked to it, in the same trace."""
    assert send.kind is SpanKind.PRODUCER
    assert process.kind is SpanKind.CONSUMER
    assert process.context.trace_id == send.context.trace_id
    assert parent_id(process) == span_id(send)
    assert [link.context.span_id for link in process.links] == [span_id(send)]


@pytest.mark.parametrize("backend", ["default", "thread"])
def test_enqueue_in_a_span_gives_one_trace_request_send_process(spans: Spans, backend: str) -> None:
    with tracer.start_as_current_span("request") as request:
        result = tasks_otel.traced_child_span.using(backend=backend).enqueue("x")
    row = wait_for_status(result.id, [Status.COMPLETED], timeout=10)
    spans.wait("process ")

    send, process, inside = spans.one("send "), spans.one("process "), spans.one("inside x")
    assert parent_id(send) == request.get_span_context().span_id
    assert_producer_consumer(send, process)
    assert parent_id(inside) == span_id(process), "a span opened by the task lands under its attempt"
    assert row.result["trace_id"] == f"{send.context.trace_id:032x}"

    expected = {
        "messaging.system": "rail_tasks",
        "messaging.destination.name": "default",
        "messaging.message.id": str(result.id),
        "rail_tasks.task.name": "traced_child_span",
        "rail_tasks.backend": backend,
    }
    assert {**(send.attributes or {})} == {
        **expected,
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
    }
    assert {**(process.attributes or {})} == {
        **expected,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "rail_tasks.attempt": 1,
        "rail_tasks.outcome": "completed",
    }
    assert process.status.status_code is StatusCode.UNSET
    assert row.metadata["otel"]["context"]["traceparent"].split("-")[2] == f"{span_id(send):016x}"


def test_a_task_enqueuing_another_continues_the_trace(spans: Spans) -> None:
    outer = tasks_otel.enqueues_another.enqueue()
    inner_id = TaskExecution.objects.get(pk=outer.id).result
    outer_send, outer_process = spans.for_execution(outer.id)
    inner_send, inner_process = spans.for_execution(inner_id)
    assert parent_id(inner_send) == span_id(outer_process)
    assert_producer_consumer(outer_send, outer_process)
    assert_producer_consumer(inner_send, inner_process)
    assert len({s.context.trace_id for s in spans.all()}) == 1


def test_span_names_follow_the_messaging_conventions(spans: Spans) -> None:
    tasks.process_order.enqueue("o-1")
    assert sorted(s.name for s in spans.all()) == ["process orders", "send orders"]


def test_without_a_current_span_the_producer_is_a_root(spans: Spans) -> None:
    result = tasks.add.enqueue(1, 2)
    send, process = spans.for_execution(result.id)
    assert send.parent is None
    assert_producer_consumer(send, process)


def test_failure_sets_error_status_and_records_the_exception(spans: Spans) -> None:
    result = tasks.always_fails.enqueue("boom")
    assert TaskExecution.objects.get(pk=result.id).status == Status.FAILED
    process = spans.one("process ")
    assert process.status.status_code is StatusCode.ERROR
    assert process.status.description == "ValueError: boom"
    assert process.attributes is not None
    assert process.attributes["error.type"] == "builtins.ValueError"
    assert process.attributes["rail_tasks.will_retry"] is False
    assert process.attributes["rail_tasks.outcome"] == "failed"
    [exception] = [e for e in process.events if e.name == "exception"]
    assert exception.attributes is not None
    assert exception.attributes["exception.type"] == "ValueError"
    assert exception.attributes["exception.message"] == "boom"
    assert not [e for e in process.events if e.name == "rail_tasks.retry_scheduled"]


def test_each_attempt_is_a_span_and_a_retry_is_an_event(spans: Spans) -> None:
    result = tasks.flaky_external_call.using(backend="thread").enqueue("d", 1)
    wait_for_status(result.id, [Status.COMPLETED], timeout=10)
    spans.wait("process ", 2)
    send, first, second = spans.for_execution(result.id)
    assert_producer_consumer(send, first)
    assert_producer_consumer(send, second)
    assert (attrs(first)["rail_tasks.attempt"], attrs(second)["rail_tasks.attempt"]) == (1, 2)
    assert first.status.status_code is StatusCode.ERROR
    assert attrs(first)["rail_tasks.will_retry"] is True
    assert attrs(first)["rail_tasks.outcome"] == "retrying"
    [retry] = [e for e in first.events if e.name == "rail_tasks.retry_scheduled"]
    assert retry.attributes is not None
    assert retry.attributes["rail_tasks.retry.next_attempt"] == 2
    assert retry.attributes["rail_tasks.retry.delay"] >= 0
    assert second.status.status_code is StatusCode.UNSET
    assert attrs(second)["rail_tasks.outcome"] == "completed"


def test_progress_events_are_throttled(spans: Spans, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "PROGRESS_EVENT_INTERVAL", 0.15)
    tasks_otel.slow_progress.enqueue(10, 0.05)  # an update every 50 ms, over half a second
    process = spans.one("process ")
    values = [
        e.attributes["rail_tasks.progress"] for e in process.events if e.attributes and e.name == "rail_tasks.progress"
    ]
    assert values[0] == 10, "the first update is always an event"
    assert values[-1] == 100, "100 % is always an event"
    assert 3 <= len(values) <= 6, f"one event per 150 ms, not one per update: {values}"
    [first] = [e for e in process.events if e.name == "rail_tasks.progress"][:1]
    assert attrs(first)["rail_tasks.progress.message"] == "step 1"


def test_progress_of_a_quick_task_keeps_first_and_last(spans: Spans) -> None:
    tasks.generate_report.enqueue("r")
    process = spans.one("process ")
    assert [e.attributes["rail_tasks.progress"] for e in process.events if e.attributes] == [25, 100]


def test_cancel_request_is_an_event_on_the_asking_span_and_the_attempt_ends_cancelled(spans: Spans) -> None:
    result = tasks.wait_for_cancel.using(backend="thread").enqueue(10)
    wait_until(lambda: TaskExecution.objects.get(pk=result.id).progress > 0, timeout=10, message="never ran")
    with tracer.start_as_current_span("cancel request") as asking:
        cancel_execution(result.id)
    wait_for_status(result.id, [Status.CANCELLED], timeout=10)
    spans.wait("process ")

    [event] = [e for e in spans.one("cancel request").events if e.name == "rail_tasks.cancel_requested"]
    assert attrs(event)["messaging.message.id"] == str(result.id)
    assert asking.get_span_context().trace_id != spans.one("send ").context.trace_id
    process = spans.one("process ")
    assert attrs(process)["rail_tasks.outcome"] == "cancelled"
    assert "rail_tasks.cancelled" in [e.name for e in process.events]
    assert process.status.status_code is StatusCode.UNSET


def test_cancel_request_without_a_current_span_makes_a_short_linked_span(spans: Spans) -> None:
    result = tasks.wait_for_cancel.using(backend="thread").enqueue(10)
    wait_until(lambda: TaskExecution.objects.get(pk=result.id).progress > 0, timeout=10, message="never ran")
    cancel_execution(result.id)
    wait_for_status(result.id, [Status.CANCELLED], timeout=10)
    cancel = spans.one("cancel default")
    assert [e.name for e in cancel.events] == ["rail_tasks.cancel_requested"]
    assert [link.context.span_id for link in cancel.links] == [span_id(spans.one("send "))]


def test_cancelling_a_waiting_execution_is_an_event_on_the_current_span(spans: Spans) -> None:
    result = tasks.add.using(backend="database").enqueue(1, 2)  # no worker: it waits
    with tracer.start_as_current_span("admin action"):
        cancel_execution(result.id)
    assert "rail_tasks.cancelled" in [e.name for e in spans.one("admin action").events]
    assert not spans.named("process ")


def test_manual_retry_starts_a_new_trace_linked_to_the_original(spans: Spans) -> None:
    result = tasks.always_fails.enqueue("first")
    original = spans.one("send ")
    spans.exporter.clear()
    retry_execution(result.id)
    send, process = spans.for_execution(result.id)
    assert send.parent is None
    assert send.context.trace_id != original.context.trace_id
    assert attrs(send)["rail_tasks.manual_retry"] is True
    assert [link.context.span_id for link in send.links] == [original.context.span_id]
    assert_producer_consumer(send, process)


def test_manual_retry_keeps_the_queue_of_the_original(spans: Spans) -> None:
    result = tasks.always_fails.using(queue_name="orders").enqueue("first")
    spans.exporter.clear()
    retry_execution(result.id)
    send, process = spans.for_execution(result.id)
    assert (send.name, process.name) == ("send orders", "process orders")
    assert attrs(send)["messaging.destination.name"] == "orders"


def test_manual_retry_inside_a_request_is_a_child_of_that_request(spans: Spans) -> None:
    result = tasks.always_fails.enqueue("first")
    original = spans.one("send ")
    with tracer.start_as_current_span("retry request") as request:
        retry_execution(result.id)
    [retry] = [s for s in spans.named("send ") if s is not original]
    assert parent_id(retry) == request.get_span_context().span_id
    assert [link.context.span_id for link in retry.links] == [original.context.span_id]


def test_an_enqueue_that_fails_validation_leaves_no_span_behind(spans: Spans) -> None:
    with pytest.raises(Exception, match="JSON"):
        tasks.add.enqueue(object(), 1)
    result = tasks.add.enqueue(1, 2)
    assert [s.name for s in spans.all()] == ["send default", "process default"]
    assert spans.for_execution(result.id)[0].name == "send default"


def test_an_outcome_recorded_outside_the_attempt_gets_a_span_after_the_fact(spans: Spans) -> None:
    from rail_tasks import WorkerLost, fail_execution

    result = tasks.add.using(backend="database").enqueue(1, 2)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.claim("lost-worker")
    TaskExecution.objects.filter(pk=row.pk).update(attempt_started_at=row.started_at)
    fail_execution(result.id, WorkerLost("the worker vanished"), retryable=False)
    process = spans.one("process ")
    assert process.attributes is not None
    assert process.attributes["rail_tasks.recorded_outside_attempt"] is True
    assert process.attributes["error.type"] == "rail_tasks.exceptions.WorkerLost"
    assert_producer_consumer(spans.one("send "), process)


def test_the_tree_renders_the_trace(spans: Spans) -> None:
    with tracer.start_as_current_span("request"):
        tasks.generate_report.enqueue("r")
    text = render_tree(spans.all())
    lines = text.splitlines()
    assert lines[0].startswith("trace ")
    assert lines[1].startswith("└── request  INTERNAL")
    assert lines[2].startswith("    └── send default  PRODUCER")
    assert lines[3].startswith("        └── process default  CONSUMER")
    assert "rail_tasks.progress  rail_tasks.progress=25" in text


@override_settings(RAIL_TASKS={"backend": "sync", "max_retries": 0, "track_in_database": False})
def test_rows_deleted_at_once_still_give_whole_traces(spans: Spans) -> None:
    tasks.add.enqueue(1, 2)
    assert_producer_consumer(spans.one("send "), spans.one("process "))
