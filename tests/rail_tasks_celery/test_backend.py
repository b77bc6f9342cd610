"""CeleryBackend without a worker: registration, message mapping, checks, reaper passes."""

from __future__ import annotations

import inspect
import logging
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.tasks import task_backends
from django.utils import timezone

from rail_tasks import Status, TaskExecution
from rail_tasks.backends import registered_backends
from rail_tasks.engine import Reaper
from rail_tasks_celery import TASK_NAME, CeleryBackend
from rail_tasks_celery.broker import BrokerInfo
from rail_tasks_celery.worker import celery_task_id_of, delivery_worker_id
from tests.process import subprocess_env
from tests.rail_tasks_celery.settings_extra import run_id
from tests.taskapp import tasks


def _backend(alias: str = "celery") -> CeleryBackend:
    backend = task_backends[alias]
    assert isinstance(backend, CeleryBackend)
    return backend


def _execution(**fields: object) -> TaskExecution:
    values: dict[str, object] = {"name": "add", "task_path": tasks.add.module_path, "backend": "celery"}
    values.update(fields)
    return TaskExecution.objects.create(**values)


def test_short_name_is_registered() -> None:
    assert registered_backends()["celery"] == "rail_tasks_celery.CeleryBackend"


def test_capabilities() -> None:
    backend = _backend()
    assert backend.supports_defer
    assert backend.supports_priority
    assert backend.supports_get_result
    assert backend.supports_timeout
    assert backend.supports_cancel_running
    assert not backend.runs_inline


def test_app_comes_from_options() -> None:
    from tests.rail_tasks_celery.celery_app import amqp_app, app

    assert _backend("celery").app is app
    assert _backend("celery_amqp").app is amqp_app
    assert _backend("celery").broker.transport == "redis"
    assert _backend("celery_amqp").broker.transport == "amqp"


@pytest.mark.django_db
def test_message_for_a_plain_execution() -> None:
    message = _backend().message(_execution())
    assert message["args"] == [str(TaskExecution.objects.get().pk)]
    assert message["serializer"] == "json"
    assert message["ignore_result"] is True
    assert "queue" not in message  # the default queue is the app's task_default_queue
    assert "eta" not in message
    assert "countdown" not in message
    assert "soft_time_limit" not in message
    assert "time_limit" not in message
    assert message["kwargs"] == {"lease_seconds": 4.0, "heartbeat_seconds": 1.0}
    assert message["task_id"] != _backend().message(_execution())["task_id"]


@pytest.mark.django_db
def test_message_maps_queue_timeout_and_delay() -> None:
    message = _backend().message(_execution(queue="orders", timeout=3), 5.0)
    assert message["queue"] == f"rt-{run_id()}-orders"
    # The kit's heartbeat stops the task at its timeout; Celery's hard limit is the backstop.
    assert "soft_time_limit" not in message
    assert message["time_limit"] == 4.0
    assert message["countdown"] == 5.0


@pytest.mark.django_db
def test_delay_past_the_visibility_timeout_is_sent_in_hops() -> None:
    backend = _backend()
    before = timezone.now()
    message = backend.message(_execution(), 3 * 3600)
    assert message["countdown"] == backend.broker.max_countdown == 16.0
    not_before = timezone.datetime.fromisoformat(message["kwargs"]["not_before"])
    assert before + timedelta(hours=3) <= not_before <= timezone.now() + timedelta(hours=3)
    # RabbitMQ has no visibility timeout: one message with the whole delay.
    amqp = _backend("celery_amqp").message(_execution(), 3 * 3600)
    assert amqp["countdown"] == 3 * 3600
    assert "not_before" not in amqp["kwargs"]


def test_priority_scales() -> None:
    redis = BrokerInfo(Celery("redis-scale", broker="redis://127.0.0.1:6379/1", set_as_current=False))
    amqp = BrokerInfo(Celery("amqp-scale", broker="amqp://guest@127.0.0.1//", set_as_current=False))
    assert [amqp.priority(p) for p in (-100, 0, 100)] == [0, 4, 9]
    assert [redis.priority(p) for p in (-100, 0, 100)] == [9, 5, 0]  # Redis serves 0 first
    assert redis.priority(10) < redis.priority(-10)


def test_worker_id_carries_the_celery_task_id() -> None:
    worker_id = delivery_worker_id("0b5c3c3e-8a0f-4d57-b0e4-5f0a1e8d4c21", "celery@" + "h" * 80)
    assert len(worker_id) == 64
    assert celery_task_id_of(worker_id) == "0b5c3c3e-8a0f-4d57-b0e4-5f0a1e8d4c21"


def test_check_refuses_an_app_without_json() -> None:
    backend = CeleryBackend("nojson", {"OPTIONS": {}})
    app = Celery("nojson", set_as_current=False)
    app.conf.accept_content = ["pickle"]
    app.conf.db_reuse_max = 1000
    backend.__dict__["app"] = app
    assert [error.id for error in backend.check()] == ["rail_tasks_celery.E002"]
    app.conf.accept_content = ["json"]
    assert backend.check() == []


def test_check_warns_when_celery_closes_connections_after_every_task() -> None:
    backend = CeleryBackend("noreuse", {"OPTIONS": {}})
    app = Celery("noreuse", set_as_current=False)
    backend.__dict__["app"] = app
    (warning,) = backend.check()
    assert warning.id == "rail_tasks_celery.W001"
    assert "CELERY_DB_REUSE_MAX" in warning.hint
    app.conf.db_reuse_max = 1000  # CELERY_DB_REUSE_MAX in Django settings, through the CELERY namespace
    assert backend.check() == []


@pytest.mark.parametrize("missing", ["redis", "packaging"])
def test_check_reports_a_transport_whose_library_is_not_installed(missing: str) -> None:
    # `pip install "rail-tasks[celery]"` alone brings neither redis nor packaging, which kombu's Redis transport needs:
    # a process where the module cannot be imported, as in such a virtualenv.
    script = f"""
import sys
sys.modules[{missing!r}] = None
import django
django.setup()
from django.tasks import task_backends
for error in task_backends["celery"].check():
    print("CHECK", error.id, error.msg, "HINT", error.hint)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], env=subprocess_env(), capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("CHECK ")]
    assert line.startswith(
        "CHECK rail_tasks_celery.E003 The broker transport 'redis' of the Celery app of TASKS['celery']"
    )
    assert 'pip install "rail-tasks-celery[redis]"' in line


def test_check_names_a_misspelt_option() -> None:
    from rail_tasks.backend_options import check_tasks_options

    tasks_setting = {"typo": {"BACKEND": "rail_tasks_celery.CeleryBackend", "OPTIONS": {"reap_intervl": 5}}}
    (error,) = check_tasks_options(tasks_setting)
    assert (error.id, error.msg) == ("rail_tasks.E002", "TASKS['typo']['OPTIONS'] has an unknown key 'reap_intervl'.")
    assert error.hint == "Did you mean 'reap_interval'?"


def test_the_docs_settings_block_passes_the_checks() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "celery.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", docs, re.DOTALL) if "CELERY_BROKER_URL" in b]
    namespace: dict[str, object] = {}
    exec("\n".join(line for line in block.splitlines() if line.startswith("CELERY_")), namespace)
    settings = {key: value for key, value in namespace.items() if key.startswith("CELERY_")}
    assert "CELERY_DB_REUSE_MAX" in settings
    app = Celery("docs", set_as_current=False)
    app.config_from_object(settings, namespace="CELERY")
    backend = CeleryBackend("docs", {"OPTIONS": {}})
    backend.__dict__["app"] = app
    assert [(error.id, error.msg) for error in backend.check()] == []


def test_check_passes_when_the_transport_imports() -> None:
    assert [error.id for error in _backend("celery").check()] == []
    assert [error.id for error in _backend("celery_amqp").check()] == []


@pytest.mark.django_db
def test_unreachable_broker_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    backend = CeleryBackend("down", {"OPTIONS": {}})
    app = Celery("down", broker="redis://127.0.0.1:1/0", set_as_current=False)
    app.conf.task_publish_retry = False
    app.conf.broker_connection_timeout = 1
    backend.__dict__["app"] = app
    with caplog.at_level(logging.ERROR, logger="rail_tasks.engine"):
        assert backend.submit(_execution()) is None
    assert "the reaper sends it again" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_enqueue_never_raises_after_the_row_was_committed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Measured before the engine kit: a transport that does not import raised from enqueue() after commit."""
    backend = _backend()

    def missing_transport(*args: object, **kwargs: object) -> None:
        raise ModuleNotFoundError("No module named 'redis'")

    monkeypatch.setattr(backend.app, "send_task", missing_transport)
    with caplog.at_level(logging.ERROR, logger="rail_tasks.engine"):
        result = tasks.add.using(backend="celery").enqueue(1, 2)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.PENDING  # committed and waiting: the reaper sends it again
    assert "ModuleNotFoundError: No module named 'redis'" in caplog.text


@pytest.mark.django_db
def test_reaper_records_lost_attempts_and_resends_stale_executions() -> None:
    backend = _backend()
    long_ago = timezone.now() - timedelta(minutes=10)
    lost = _execution(
        status=Status.RUNNING,
        attempts=1,
        max_retries=1,
        lease_expires_at=long_ago,
        attempt_started_at=long_ago,
        worker_id="x@y",
    )
    alive = _execution(status=Status.RUNNING, attempts=1, lease_expires_at=timezone.now() + timedelta(minutes=1))
    stale = _execution(created_at=long_ago)
    fresh = _execution()
    reaper = Reaper(lambda: ["celery"], interval=backend.reap_interval, resubmit_after=backend.resubmit_after)
    first = reaper.run_once()
    assert (first.lost, first.released, first.resubmitted) == (1, 0, 1)  # the lost one is retried by the core
    lost.refresh_from_db()
    assert lost.status == Status.RETRYING
    assert lost.exception_class == "rail_tasks.exceptions.WorkerLost"
    alive.refresh_from_db()
    assert alive.status == Status.RUNNING
    assert {stale.status, fresh.status} == {Status.PENDING}
    assert not reaper.run_once()  # each sent once per resubmit_after


def test_generic_task_is_registered_on_the_apps() -> None:
    from tests.rail_tasks_celery.celery_app import amqp_app, app

    for each in (app, amqp_app):
        task = each.tasks[TASK_NAME]
        assert task.acks_late
        assert task.reject_on_worker_lost
        assert task.ignore_result


def test_every_system_check_id_is_documented() -> None:
    from rail_tasks_celery import backend

    source = Path(inspect.getfile(backend)).read_text()
    check_ids = set(re.findall(r'id="(rail_tasks_celery\.[EW]\d{3})"', source))
    assert check_ids == {
        "rail_tasks_celery.E001",
        "rail_tasks_celery.E002",
        "rail_tasks_celery.E003",
        "rail_tasks_celery.W001",
    }
    docs = (Path(__file__).resolve().parents[2] / "docs" / "celery.md").read_text()
    assert {i for i in check_ids if f"`{i}`" not in docs} == set()
