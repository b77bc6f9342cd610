"""DjangoQBackend without a cluster: what crosses the broker, queue -> cluster, delays, options and checks."""

from __future__ import annotations

import ast
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core.checks import CheckMessage
from django.tasks import task_backends
from django.tasks.exceptions import InvalidTask
from django.test import override_settings
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Success
from django_q.signing import SignedPackage

import rail_tasks
from rail_tasks.testing import tasks
from rail_tasks_djangoq import FUNCTION, DjangoQBackend
from rail_tasks_djangoq.checks import check_backend
from tests.rail_tasks_djangoq.settings_extra import orm_cluster, redis_cluster

SAFE = {"name": "main", "orm": "default", "timeout": 300, "retry": 360, "ack_failures": True, "max_attempts": 1}


@rail_tasks.task(timeout=400)
def long_task() -> None:
    """A task whose timeout the documented cluster cannot enforce before it redelivers."""


def ids(messages: list[CheckMessage]) -> list[str]:
    return sorted(str(message.id) for message in messages)


def backend(**options: Any) -> DjangoQBackend:
    return DjangoQBackend("dq", {"OPTIONS": options})


@pytest.fixture
def sent(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[..., list[dict[str, Any]]]:
    """``sent(task, *args)``: enqueue on the ``django_q`` alias and return the Django-Q2 packages it wrote."""

    def enqueue(task: Any, *args: Any) -> list[dict[str, Any]]:
        with django_capture_on_commit_callbacks(execute=True):
            task.using(backend="django_q").enqueue(*args)
        return [SignedPackage.loads(row.payload) | {"lock": row.lock} for row in OrmQ.objects.all()]

    return enqueue


@pytest.mark.django_db
def test_only_ids_cross_the_broker(sent: Callable[..., list[dict[str, Any]]]) -> None:
    """The message names one function and carries the execution id, never the task's arguments."""
    (package,) = sent(tasks.add, 2, {"secret": "payload"})
    execution = rail_tasks.TaskExecution.objects.get()
    assert package["func"] == FUNCTION
    assert package["args"][0] == str(execution.pk)
    assert package["args"][2:5] == (4.0, 1.0, None)  # lease and heartbeat seconds, no time limit
    assert package["kwargs"] == {}
    assert "payload" not in repr(package)
    assert (package["save"], package["cached"], package["ack_failure"]) == (False, False, True)
    assert package["cluster"] == orm_cluster()


@pytest.mark.django_db
def test_timeout_maps_to_djangoq_timeout_after_the_kits(sent: Callable[..., list[dict[str, Any]]]) -> None:
    (package,) = sent(tasks.slow_with_progress, 1)
    assert package["timeout"] == 6  # ceil(0.5 + time_limit_grace 5): Django-Q2 stops it after the kit would
    assert package["args"][4] == 6


@pytest.mark.django_db
def test_run_after_on_the_orm_broker_locks_the_row(django_capture_on_commit_callbacks: Callable[..., Any]) -> None:
    run_after = timezone.now() + timedelta(seconds=120)
    with django_capture_on_commit_callbacks(execute=True):
        tasks.add.using(backend="django_q", run_after=run_after).enqueue(1, 2)
    row = OrmQ.objects.get()
    assert abs((row.lock - run_after).total_seconds()) < 2
    assert not Schedule.objects.exists()


@pytest.mark.django_db
def test_run_after_on_the_redis_broker_is_a_one_off_schedule(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    run_after = timezone.now() + timedelta(seconds=120)
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.add.using(backend="django_q_redis", run_after=run_after).enqueue(1, 2)
    schedule = Schedule.objects.get()
    assert (schedule.func, schedule.schedule_type, schedule.cluster) == (FUNCTION, Schedule.ONCE, redis_cluster())
    assert ast.literal_eval(schedule.args)[0] == result.id
    assert abs((schedule.next_run - run_after).total_seconds()) < 2
    assert ast.literal_eval(schedule.kwargs)["q_options"]["save"] is False
    assert not Success.objects.exists()


def test_queue_maps_to_cluster() -> None:
    with override_settings(Q_CLUSTER={**SAFE, "ALT_CLUSTERS": {"orders": {}}}):
        plain = backend()
        assert plain.cluster_for("default") == "main"
        assert plain.cluster_for("orders") == "orders"
        mapped = backend(clusters={"default": "web", "reports": "slow"})
        assert (mapped.cluster_for("default"), mapped.cluster_for("reports")) == ("web", "slow")


def test_priority_is_refused_not_ignored() -> None:
    with pytest.raises(InvalidTask, match="priority"):
        task_backends["django_q"].validate_task(tasks.add.using(backend="django_q", priority=10))


def test_timeout_beyond_retry_is_refused_at_enqueue() -> None:
    with override_settings(Q_CLUSTER=SAFE), pytest.raises(InvalidTask, match="retry=360"):
        backend().validate_task(long_task)


def test_unknown_option_names_the_closest() -> None:
    from rail_tasks.backend_options import check_tasks_options

    tasks_setting = {"dq": {"BACKEND": "rail_tasks_djangoq.DjangoQBackend", "OPTIONS": {"lease_second": 5}}}
    (error,) = check_tasks_options(tasks_setting)
    assert (error.id, error.hint) == ("rail_tasks.E002", "Did you mean 'lease_seconds'?")
    assert "'lease_second'" in error.msg
    (error,) = check_tasks_options({"dq": {**tasks_setting["dq"], "OPTIONS": {"clusters": "reports"}}})
    assert error.id == "rail_tasks.E003"


def test_documented_configuration_passes_the_checks() -> None:
    with override_settings(Q_CLUSTER={**SAFE, "ALT_CLUSTERS": {"reports": {"timeout": 1800, "retry": 1900}}}):
        assert ids(check_backend(backend(clusters={"reports": "reports"}))) == []
    with override_settings(Q_CLUSTER={"name": "main", "redis": "redis://127.0.0.1:6379/0"}):
        assert ids(check_backend(backend())) == []  # Redis never redelivers: timeout and retry do not matter


@pytest.mark.parametrize(
    ("q_cluster", "expected"),
    [
        ({**SAFE, "timeout": 360}, ["rail_tasks_djangoq.E002"]),
        ({**SAFE, "timeout": None}, ["rail_tasks_djangoq.E002"]),
        ({**SAFE, "max_attempts": 0, "ack_failures": False}, ["rail_tasks_djangoq.E003"]),
        ({**SAFE, "sync": True}, ["rail_tasks_djangoq.W001"]),
        ({"name": "main", "scheduler": False}, ["rail_tasks_djangoq.W002"]),
    ],
)
def test_unsafe_configurations_fail_the_checks(q_cluster: dict[str, Any], expected: list[str]) -> None:
    with override_settings(Q_CLUSTER=q_cluster):
        assert ids(check_backend(backend())) == expected


def test_unsafe_alt_cluster_and_undeclared_cluster() -> None:
    alt = {"reports": {"timeout": 900}}  # retry stays 360 from the main settings
    with override_settings(Q_CLUSTER={**SAFE, "ALT_CLUSTERS": alt}):
        messages = check_backend(backend(clusters={"reports": "reports", "mail": "mailer"}))
    by_id = {message.id: message.msg for message in messages}
    assert sorted(by_id) == ["rail_tasks_djangoq.E002", "rail_tasks_djangoq.E004"]
    assert "cluster 'reports'" in by_id["rail_tasks_djangoq.E002"]
    assert "cluster 'mailer'" in by_id["rail_tasks_djangoq.E004"]


def test_django_q_not_installed() -> None:
    with override_settings(INSTALLED_APPS=["rail_tasks"]):
        assert ids(check_backend(backend())) == ["rail_tasks_djangoq.E001"]


def test_short_name_registered() -> None:
    from rail_tasks.backends import backend_path

    assert backend_path("django_q") == "rail_tasks_djangoq.DjangoQBackend"
