"""Beside opentelemetry-instrumentation-django, a GraphQL mutation, and without any SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import override_settings
from django.urls import path
from opentelemetry.trace import SpanKind

from rail_tasks.plugins import get_plugin_manager
from tests.process import REPO_ROOT
from tests.rail_tasks_otel.conftest import Spans, attrs, parent_id
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)


def enqueue_view(request: HttpRequest) -> JsonResponse:
    """A view that enqueues a task, as a project's would."""
    result = tasks.generate_report.enqueue("from-a-view")
    return JsonResponse({"id": str(result.id)})


urlpatterns = [path("enqueue/", enqueue_view)]


@pytest.fixture
def django_instrumented() -> Iterator[None]:
    """opentelemetry-instrumentation-django on for one test (its middleware in ``MIDDLEWARE``)."""
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    instrumentor = DjangoInstrumentor()
    instrumentor.instrument()
    try:
        yield
    finally:
        instrumentor.uninstrument()


def assert_one_whole_trace(spans: Spans) -> None:
    """Every span shares one trace and every parent they name was exported."""
    everything = spans.all()
    assert len({s.context.trace_id for s in everything}) == 1, [s.name for s in everything]
    ids = {s.context.span_id for s in everything}
    assert all(s.parent is None or s.parent.span_id in ids for s in everything)
    assert sum(s.parent is None for s in everything) == 1


def test_plugin_is_loaded_through_its_entry_point() -> None:
    info = get_plugin_manager().infos["otel"]
    assert info.loaded
    assert (info.source, info.dist, info.module) == ("entry point", "rail-tasks-otel", "rail_tasks_otel.hooks")


@pytest.mark.usefixtures("django_instrumented")
@override_settings(ROOT_URLCONF=__name__)
def test_beside_django_instrumentation_request_send_process_once_each(spans: Spans, client: Any) -> None:
    response = client.get("/enqueue/")
    assert response.status_code == 200
    assert_one_whole_trace(spans)
    server, send, process = spans.one("GET "), spans.one("send "), spans.one("process ")
    assert server.kind is SpanKind.SERVER
    assert parent_id(send) == server.context.span_id
    assert parent_id(process) == send.context.span_id
    assert sorted(s.name for s in spans.all()) == ["GET enqueue/", "process default", "send default"]


@pytest.mark.usefixtures("django_instrumented")
@override_settings(ROOT_URLCONF="tests.rail_tasks_graphql.example.urls")
def test_graphql_task_mutation_enqueues_in_the_request_trace(spans: Spans, client: Any) -> None:
    pytest.importorskip("rail_tasks_graphql")
    with override_settings(RAIL_TASKS_GRAPHQL={**getattr(settings, "RAIL_TASKS_GRAPHQL", {}), "backend": "default"}):
        response = client.post(
            "/graphql/",
            {"query": 'mutation { generateReport(datasetId: "7") { taskId status } }'},
            content_type="application/json",
        )
    assert response.status_code == 200, response.content
    task_id = response.json()["data"]["generateReport"]["taskId"]
    assert_one_whole_trace(spans)
    send, process = spans.for_execution(task_id)
    assert parent_id(send) == spans.one("POST ").context.span_id
    assert parent_id(process) == send.context.span_id
    assert attrs(process)["rail_tasks.task.name"] == "generate_report"


def test_without_an_sdk_nothing_is_attached_and_tasks_run() -> None:
    """A fresh interpreter where no SDK was set up: no metadata, no errors, the task completes."""
    code = (
        "import django, json, logging, os\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('migrate', verbosity=0, run_syncdb=True)\n"
        "from rail_tasks import TaskExecution\n"
        "from rail_tasks.plugins import get_plugin_manager\n"
        "from tests.taskapp import tasks\n"
        "errors = []\n"
        "logging.getLogger('rail_tasks.plugins').addHandler(type('H', (logging.Handler,), "
        "{'emit': lambda self, r: errors.append(r.getMessage())})())\n"
        "result = tasks.generate_report.enqueue('x')\n"
        "row = TaskExecution.objects.get(pk=result.id)\n"
        "print(json.dumps({'status': row.status, 'metadata': row.metadata, 'errors': errors,\n"
        "    'otel': get_plugin_manager().infos['otel'].loaded,\n"
        "    'provider': type(__import__('opentelemetry.trace').trace.get_tracer_provider()).__name__}))\n"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "PATH": "/usr/bin:/bin",
        "RAIL_TASKS_TEST_DB": "sqlite",
        "RAIL_TASKS_TEST_SQLITE_DB": ":memory:",
    }
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, env=env)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report == {
        "status": "completed",
        "metadata": {},
        "errors": [],
        "otel": True,
        "provider": "ProxyTracerProvider",
    }


def test_flush_flushes_the_global_providers_and_survives_a_broken_one(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import rail_tasks_otel
    from rail_tasks_otel import flushing as flush_module

    calls: list[int] = []

    class Flushing:
        def force_flush(self, timeout_millis: int) -> bool:
            calls.append(timeout_millis)
            return True

    class Broken:
        def force_flush(self, timeout_millis: int) -> bool:
            raise RuntimeError("exporter down")

    monkeypatch.setattr(flush_module.trace, "get_tracer_provider", Flushing)
    monkeypatch.setattr(flush_module.metrics, "get_meter_provider", Flushing)
    assert rail_tasks_otel.flush() is True
    assert calls == [5000, 5000]

    monkeypatch.setattr(flush_module.trace, "get_tracer_provider", Broken)
    assert rail_tasks_otel.flush(timeout_millis=10) is False
    assert calls == [5000, 5000, 10], "the meter provider is still flushed after the tracer's failed"
    assert "Flushing OpenTelemetry's Broken failed" in caplog.text


def test_worker_stop_hook_flushes(monkeypatch: pytest.MonkeyPatch) -> None:
    from rail_tasks_otel import flushing as flush_module
    from rail_tasks_otel import hooks

    flushed: list[str] = []

    class Flushing:
        def force_flush(self, timeout_millis: int) -> bool:
            flushed.append("flushed")
            return True

    monkeypatch.setattr(flush_module.trace, "get_tracer_provider", Flushing)
    monkeypatch.setattr(hooks, "flush", flush_module.flush)
    get_plugin_manager().hook.rail_tasks_worker_stop(worker_id="w1")
    assert flushed == ["flushed"]
