"""The TaskExecution admin: list, filters, search, progress bar, read-only pages, guarded actions."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rail_tasks import Status, TaskExecution
from rail_tasks.testing import tasks as kit_tasks
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "admin:rail_tasks_taskexecution_changelist"


def waiting(task: Any = kit_tasks.add, *args: Any) -> TaskExecution:
    """A pending execution: enqueued on the database backend, with no worker running."""
    result = task.using(backend="database").enqueue(*(args or (1, 2)))
    return TaskExecution.objects.get(pk=result.id)


def failed() -> TaskExecution:
    """A failed execution whose task would now succeed (re-pointed at the inline backend)."""
    execution = waiting()
    assert execution.claim("test-worker")
    assert execution.finish_failed(
        1, error="boom", exception_class="builtins.ValueError", traceback="Traceback...", expires_at=None
    )
    TaskExecution.objects.filter(pk=execution.pk).update(backend="default")
    execution.refresh_from_db()
    return execution


def staff(*permissions: str) -> Client:
    user = User.objects.create_user("staff", password="pw", is_staff=True)
    for codename in ("view_taskexecution", *permissions):
        user.user_permissions.add(Permission.objects.get(codename=codename, content_type__app_label="rail_tasks"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def superuser() -> Client:
    user = User.objects.create_superuser("admin", "admin@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def act(client: Client, action: str, *executions: TaskExecution) -> Any:
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [str(e.pk) for e in executions]},
        follow=True,
    )


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_changelist_shows_status_and_progress_bar(superuser: Client) -> None:
    done = TaskExecution.objects.get(pk=tasks.bulk_import.enqueue(["a", "b"]).id)
    halfway = waiting()
    assert halfway.claim("w")
    assert halfway.set_progress(halfway.attempts, 40, "Processing <b>")
    response = superuser.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-valuenow="100" aria-valuemin="0" aria-valuemax="100" style="width:100%' in html
    assert 'aria-valuenow="40"' in html
    assert "width:40%" in html
    assert 'title="Processing &lt;b&gt;"' in html  # escaped by format_html
    assert str(done.pk) in html
    assert str(halfway.pk) in html
    assert ">Completed</strong>" in html
    assert ">Running</strong>" in html


def test_filters_by_status_queue_and_backend(superuser: Client) -> None:
    completed = TaskExecution.objects.get(pk=tasks.add.enqueue(1, 1).id)
    order = TaskExecution.objects.get(pk=tasks.process_order.enqueue("o-1").id)
    pending = waiting()

    def listed(**query: str) -> set[str]:
        response = superuser.get(reverse(CHANGELIST), query)
        assert response.status_code == 200
        return {str(row.pk) for row in response.context["cl"].result_list}

    assert listed(status="pending") == {str(pending.pk)}
    assert listed(status="completed") == {str(completed.pk), str(order.pk)}
    assert listed(queue="orders") == {str(order.pk)}
    assert listed(backend="database") == {str(pending.pk)}
    assert listed() == {str(completed.pk), str(order.pk), str(pending.pk)}


def test_search_by_name_and_id(superuser: Client) -> None:
    report = TaskExecution.objects.get(pk=tasks.generate_report.enqueue("d1").id)
    other = TaskExecution.objects.get(pk=tasks.add.enqueue(1, 1).id)

    def found(term: str) -> set[str]:
        response = superuser.get(reverse(CHANGELIST), {"q": term})
        return {str(row.pk) for row in response.context["cl"].result_list}

    assert found("generate") == {str(report.pk)}
    assert found(str(other.pk)) == {str(other.pk)}
    assert found(other.pk.hex.upper()) == {str(other.pk)}
    assert found("no-such-task") == set()


def test_pages_are_read_only(superuser: Client) -> None:
    execution = waiting()
    change = reverse("admin:rail_tasks_taskexecution_change", args=[execution.pk])
    response = superuser.get(change)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="_save"' not in html
    assert "rail_tasks.testing.tasks.add" in html
    assert superuser.post(change, {"name": "renamed"}).status_code == 403
    assert TaskExecution.objects.get(pk=execution.pk).name == "add"
    assert superuser.get(reverse("admin:rail_tasks_taskexecution_add")).status_code == 403


def test_cancel_action(superuser: Client) -> None:
    pending = waiting()
    running = waiting()
    assert running.claim("w")
    finished = TaskExecution.objects.get(pk=tasks.add.enqueue(1, 1).id)
    response = act(superuser, "cancel_executions", pending, running, finished)
    assert response.status_code == 200
    assert messages_of(response) == [
        "1 execution cancelled.",
        "1 running execution asked to stop.",
        "1 execution skipped (only waiting or running ones can be cancelled).",
    ]
    pending.refresh_from_db()
    running.refresh_from_db()
    finished.refresh_from_db()
    assert pending.status == Status.CANCELLED
    assert (running.status, running.cancel_requested) == (Status.RUNNING, True)
    assert finished.status == Status.COMPLETED


def test_retry_action_runs_the_execution_again(superuser: Client) -> None:
    execution = failed()
    untouched = waiting()
    response = act(superuser, "retry_executions", execution, untouched)
    assert messages_of(response) == [
        "1 execution retried.",
        "1 execution skipped (only failed or cancelled ones can be retried).",
    ]
    execution.refresh_from_db()
    assert execution.status == Status.COMPLETED  # ran again inline on the sync backend
    assert execution.result == {"sum": 3, "args": [1, 2]}
    assert (execution.attempts, execution.error) == (1, "")
    assert TaskExecution.objects.get(pk=untouched.pk).status == Status.PENDING


def test_staff_without_permissions_sees_no_actions() -> None:
    pending = waiting()
    client = staff()
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    html = response.content.decode()
    assert "cancel_executions" not in html
    assert "retry_executions" not in html
    assert str(pending.pk) in html
    act(client, "cancel_executions", pending)
    assert TaskExecution.objects.get(pk=pending.pk).status == Status.PENDING
    execution = failed()
    act(client, "retry_executions", execution)
    assert TaskExecution.objects.get(pk=execution.pk).status == Status.FAILED


def test_each_action_needs_its_own_permission() -> None:
    pending = waiting()
    execution = failed()
    client = staff("cancel_taskexecution")
    html = client.get(reverse(CHANGELIST)).content.decode()
    assert "cancel_executions" in html
    assert "retry_executions" not in html
    act(client, "retry_executions", execution)
    assert TaskExecution.objects.get(pk=execution.pk).status == Status.FAILED
    act(client, "cancel_executions", pending)
    assert TaskExecution.objects.get(pk=pending.pk).status == Status.CANCELLED


def test_user_without_view_permission_is_refused() -> None:
    user = User.objects.create_user("nobody", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)
    assert client.get(reverse(CHANGELIST)).status_code == 403


def test_changelist_never_loads_arguments_results_or_tracebacks(superuser: Client) -> None:
    """One large row must not slow every listing: the list reads only the columns it shows."""
    big = "x" * 200_000
    TaskExecution.objects.create(
        name="heavy", task_path="x.y", kwargs={"blob": big}, result={"blob": big}, traceback=big, error=big
    )
    with CaptureQueriesContext(connection) as queries:
        response = superuser.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "heavy" in response.content.decode()
    listing = [q["sql"] for q in queries.captured_queries if "rail_tasks_taskexecution" in q["sql"]]
    assert listing
    assert not [sql for sql in listing if big in sql]
    selects = [sql.split(" FROM ")[0] for sql in listing if sql.startswith("SELECT")]
    for column in ('"kwargs"', '"result"', '"traceback"', '"args"', '"error"'):
        assert not [s for s in selects if f'"rail_tasks_taskexecution".{column}' in s], column


def test_the_change_permission_alone_does_not_open_the_list() -> None:
    """Viewing executions needs the view permission, as on REST and GraphQL."""
    user = User.objects.create_user("changer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="change_taskexecution"))
    client = Client()
    client.force_login(user)
    assert client.get(reverse(CHANGELIST)).status_code == 403
