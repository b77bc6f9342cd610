"""DramatiqBackend without a worker: registration, broker resolution, message mapping, checks, the actor."""

from __future__ import annotations

import inspect
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

import dramatiq
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.tasks import task_backends
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import Middleware

from rail_tasks import TaskExecution
from rail_tasks.backends import registered_backends
from rail_tasks_dramatiq import ACTOR_NAME, DramatiqBackend, serve
from rail_tasks_dramatiq.actor import ACTOR_OPTIONS
from rail_tasks_dramatiq.broker import resolve_broker
from rail_tasks_dramatiq.middleware import RailMiddleware
from tests.rail_tasks_dramatiq.settings_extra import run_id
from tests.taskapp import tasks


def _backend(alias: str = "dramatiq") -> DramatiqBackend:
    backend = task_backends[alias]
    assert isinstance(backend, DramatiqBackend)
    return backend


def _execution(**fields: object) -> TaskExecution:
    values: dict[str, object] = {"name": "add", "task_path": tasks.add.module_path, "backend": "dramatiq"}
    values.update(fields)
    return TaskExecution(**values)


def test_short_name_is_registered() -> None:
    assert registered_backends()["dramatiq"] == "rail_tasks_dramatiq.DramatiqBackend"


def test_capabilities() -> None:
    backend = _backend()
    assert backend.supports_defer
    assert backend.supports_priority
    assert backend.supports_get_result
    assert backend.supports_timeout
    assert backend.supports_cancel_running
    assert not backend.runs_inline


def test_broker_comes_from_the_option() -> None:
    assert isinstance(_backend("dramatiq").broker, RedisBroker)
    assert isinstance(_backend("dramatiq_amqp").broker, RabbitmqBroker)
    assert _backend("dramatiq").broker is resolve_broker("tests.rail_tasks_dramatiq.brokers.redis")


def test_broker_from_a_url() -> None:
    assert isinstance(resolve_broker("redis://127.0.0.1:6379/9"), RedisBroker)
    assert resolve_broker("redis://127.0.0.1:6379/9") is resolve_broker("redis://127.0.0.1:6379/9")
    assert isinstance(resolve_broker("amqp://guest:guest@127.0.0.1:5672/%2F"), RabbitmqBroker)


def test_bad_broker_sources_are_explained() -> None:
    with pytest.raises(ImproperlyConfigured, match="unknown URL scheme 'kafka'"):
        resolve_broker("kafka://127.0.0.1:9092")
    with pytest.raises(ImproperlyConfigured, match="is a str, not a Dramatiq Broker"):
        resolve_broker("tests.rail_tasks_dramatiq.settings_extra.REDIS_URL")
    with pytest.raises(ImproperlyConfigured, match=r"set the backend option 'dramatiq_broker'.*DRAMATIQ_BROKER"):
        resolve_broker(None)


def test_message_carries_only_the_id_and_the_lease() -> None:
    backend = _backend()
    execution = _execution()
    message, delay = backend.message(execution, 0.0)
    assert message.actor_name == ACTOR_NAME == "rail_tasks.run_execution"
    assert message.queue_name == f"rt-{run_id()}-default"
    assert message.args == (str(execution.pk),)
    assert message.kwargs == {"lease": 4.0, "beat": 1.0}
    assert message.options == {}  # Redis has no message priorities
    assert delay is None


def test_message_maps_queue_delay_and_priority() -> None:
    backend = _backend("dramatiq_amqp")
    message, delay = backend.message(_execution(queue="orders", priority=100), 2.5)
    assert message.queue_name == f"rt-{run_id()}-orders"
    assert delay == 2500
    assert message.options == {"broker_priority": 9}
    assert backend.message(_execution(priority=-100), 0)[0].options == {"broker_priority": 0}
    assert backend.message(_execution(priority=0), 0)[0].options == {"broker_priority": 4}


def test_delay_past_max_delay_is_sent_in_hops() -> None:
    backend = _backend("dramatiq_amqp")
    assert backend.max_delay == 3
    message, delay = backend.message(_execution(), 60)
    assert delay == 3000
    not_before = datetime.fromisoformat(message.kwargs["not_before"])
    assert timedelta(seconds=59) < not_before - datetime.now(not_before.tzinfo) <= timedelta(seconds=60)
    assert _backend("dramatiq").max_delay is None  # Redis: no limit by default
    default = DramatiqBackend("x", {"OPTIONS": {"dramatiq_broker": "tests.rail_tasks_dramatiq.brokers.rabbitmq"}})
    assert default.max_delay == 900  # half RabbitMQ's default consumer_timeout


@pytest.mark.django_db
def test_unreachable_broker_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    backend = DramatiqBackend("down", {"OPTIONS": {"dramatiq_broker": "redis://127.0.0.1:1/0"}})
    with caplog.at_level(logging.ERROR, logger="rail_tasks.engine"):
        assert backend.submit(_execution()) is None
    assert "the reaper sends it again" in caplog.text


def test_check_passes_for_the_test_aliases() -> None:
    assert _backend("dramatiq").check() == []
    assert _backend("dramatiq_amqp").check() == []


def test_check_unknown_option_suggests_the_closest() -> None:
    from rail_tasks.backend_options import check_tasks_options

    tasks_setting = {
        "x": {"BACKEND": "rail_tasks_dramatiq.DramatiqBackend", "OPTIONS": {"dramatiq_borker": "redis://h:6379/9"}}
    }
    errors = check_tasks_options(tasks_setting)
    assert [e.id for e in errors] == ["rail_tasks.E002"]
    assert "Did you mean 'dramatiq_broker'?" in str(errors[0].hint)
    backend = DramatiqBackend("x", {"QUEUES": ["default"], "OPTIONS": {"dramatiq_borker": "redis://h:6379/9"}})
    assert [e.id for e in backend.check()] == ["rail_tasks_dramatiq.E002"]  # and so no broker to load


def test_check_refuses_a_non_positive_max_delay() -> None:
    options = {"dramatiq_broker": "tests.rail_tasks_dramatiq.brokers.rabbitmq", "max_delay": 0}
    backend = DramatiqBackend("x", {"QUEUES": ["default"], "OPTIONS": options})
    errors = backend.check()
    assert [e.id for e in errors] == ["rail_tasks_dramatiq.E001"]
    assert "must be a positive number of seconds" in errors[0].msg


def test_check_unreachable_broker_and_any_queue() -> None:
    backend = DramatiqBackend("down", {"OPTIONS": {"dramatiq_broker": "redis://127.0.0.1:1/0"}})
    backend.queues = set()  # accepts any queue name
    ids = [e.id for e in backend.check()]
    assert ids == ["rail_tasks_dramatiq.W001", "rail_tasks_dramatiq.W002"]


class RetryEverything(Middleware):
    """A home-made retry middleware that would retry rail-tasks' actor."""


def test_check_warns_about_foreign_retry_middleware() -> None:
    broker = StubBroker(middleware=[RetryEverything()])
    backend = DramatiqBackend("stub", {"QUEUES": ["default"], "OPTIONS": {}})
    backend.__dict__["broker"] = broker
    assert [e.id for e in backend.check()] == ["rail_tasks_dramatiq.W003"]


def test_serve_declares_the_actor_without_dramatiq_retries_or_time_limit() -> None:
    previous = dramatiq.get_broker()
    broker = StubBroker()
    backend = _backend()
    backend.__dict__["broker"] = broker
    try:
        assert serve(["dramatiq"]) is broker
        assert dramatiq.get_broker() is broker
        actor = broker.get_actor(ACTOR_NAME)
        assert actor.options == ACTOR_OPTIONS
        assert actor.options["max_retries"] == 0
        assert not actor.options["retry_when"](0, ValueError())
        assert actor.options["time_limit"] == float("inf")
        assert actor.queue_name == f"rt-{run_id()}-default"
        prefix = f"rt-{run_id()}-"
        assert {f"{prefix}default", f"{prefix}orders", f"{prefix}rail"} <= broker.get_declared_queues()
        assert any(isinstance(m, RailMiddleware) for m in broker.middleware)
    finally:
        backend.__dict__.pop("broker", None)
        dramatiq.set_broker(previous)


def test_serve_refuses_aliases_on_different_brokers() -> None:
    with pytest.raises(RuntimeError, match="use different Dramatiq brokers"):
        serve(["dramatiq", "dramatiq_amqp"])


def test_every_system_check_id_is_documented() -> None:
    from rail_tasks_dramatiq import backend

    source = Path(inspect.getfile(backend)).read_text()
    check_ids = set(re.findall(r'id="(rail_tasks_dramatiq\.[EW]\d{3})"', source))
    assert len(check_ids) == 5
    docs = (Path(__file__).resolve().parents[2] / "docs" / "dramatiq.md").read_text()
    assert {i for i in check_ids if f"`{i}`" not in docs} == set()
