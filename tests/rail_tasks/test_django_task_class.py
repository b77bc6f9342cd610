"""On Django 6.1, Django's own ``@task(...)`` takes rail's options through ``task_class``."""

from __future__ import annotations

import django
import pytest

from rail_tasks import RailTask, Status, TaskExecution

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(django.VERSION < (6, 1), reason="Django 6.0's @task takes no extra options"),
]


def test_django_decorator_builds_a_rail_task_with_options() -> None:
    from tests.taskapp.tasks_django61 import django_flaky

    assert isinstance(django_flaky, RailTask)
    assert (django_flaky.max_retries, django_flaky.timeout, django_flaky.track_progress) == (2, 30, False)


def test_django_decorated_task_retries_by_its_own_options() -> None:
    from tests.taskapp.tasks_django61 import django_flaky

    result = django_flaky.enqueue(fail_times=2)
    row = TaskExecution.objects.get(pk=result.id)
    assert row.status == Status.COMPLETED
    assert row.attempts == 3
    assert result.return_value == "ok"

    exhausted = TaskExecution.objects.get(pk=django_flaky.enqueue(fail_times=5).id)
    assert exhausted.status == Status.FAILED
    assert exhausted.attempts == 3
