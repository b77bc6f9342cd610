"""REST: ``GET /api/v1/tasks/<uuid>/`` and ``POST /api/v1/tasks/<uuid>/cancel/``, and who owns a task."""

from __future__ import annotations

import json
import secrets
import string
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, Permission
from django.test import Client, override_settings

import rail_tasks
from rail_tasks import Status, TaskExecution
from tests.rail_tasks.token_auth import token_for
from tests.taskapp import tasks

pytestmark = pytest.mark.django_db(transaction=True)

SEED_KEYS = {
    "id",
    "name",
    "status",
    "progress",
    "progress_message",
    "result",
    "error",
    "created_at",
    "started_at",
    "completed_at",
}
NOT_FOUND = {"error": "Task not found."}


def _middleware_with_tokens() -> list[str]:
    middleware = list(settings.MIDDLEWARE)
    # After Django's session authentication, before the owner middleware (which reads request.user).
    where = middleware.index("rail_tasks.middleware.TaskOwnerMiddleware")
    middleware[where:where] = [
        "tests.rail_tasks.token_auth.CookieTokenMiddleware",
        "tests.rail_tasks.token_auth.BearerTokenMiddleware",
    ]
    return middleware


@pytest.fixture(autouse=True)
def _urls_and_token_auth() -> Iterator[None]:
    with override_settings(ROOT_URLCONF="tests.rail_tasks.urls_core5", MIDDLEWARE=_middleware_with_tokens()):
        yield


@pytest.fixture
def owner(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("owner")


@pytest.fixture
def other(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("other")


@pytest.fixture
def staff(django_user_model: Any) -> Any:
    """``is_staff`` and no rail_tasks permission: grants nothing."""
    return django_user_model.objects.create_user("staff", is_staff=True)


@pytest.fixture
def superuser(django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root")


def with_permissions(user: Any, *codenames: str) -> Any:
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="rail_tasks", codename__in=codenames))
    return type(user).objects.get(pk=user.pk)  # a fresh object: no cached permissions


def session_client(user: Any, *, enforce_csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def token_client(user: Any) -> Client:
    return Client(headers={"Authorization": f"Bearer {token_for(user)}"})


def detail(execution_id: Any) -> str:
    return f"/api/v1/tasks/{execution_id}/"


def cancel(execution_id: Any) -> str:
    return f"/api/v1/tasks/{execution_id}/cancel/"


def pending_for(user: Any) -> TaskExecution:
    """An execution nobody runs in these tests (the database backend's worker is not started)."""
    with rail_tasks.acting_as(user):
        return TaskExecution.objects.get(pk=tasks.ledger_task.using(backend="database").enqueue("waiting").id)


# ---------------------------------------------------------------------------
# GET
# ---------------------------------------------------------------------------


def test_owner_sees_the_seed_json(owner: Any) -> None:
    with rail_tasks.acting_as(owner):
        result = tasks.generate_report.enqueue("d-1")
    response = session_client(owner).get(detail(result.id))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= SEED_KEYS
    assert "traceback" not in body
    row = TaskExecution.objects.get(pk=result.id)
    assert body["id"] == result.id
    assert body["name"] == "generate_report"
    assert body["status"] == "completed"
    assert (body["progress"], body["progress_message"]) == (100, "Complete")
    assert body["result"] == {"ok": True, "dataset_id": "d-1", "file_path": "/reports/d-1.pdf"}
    assert body["error"] is None
    assert row.created_at is not None
    assert body["created_at"] == row.created_at.isoformat().replace("+00:00", "Z")
    assert body["started_at"].endswith("Z")
    assert body["completed_at"].endswith("Z")


def test_pending_execution_has_no_start(owner: Any) -> None:
    row = pending_for(owner)
    body = session_client(owner).get(detail(row.id)).json()
    assert (body["status"], body["progress"], body["started_at"], body["completed_at"]) == ("pending", 0, None, None)


def test_other_users_and_missing_ids_get_the_same_404(owner: Any, other: Any) -> None:
    row = pending_for(owner)
    hidden = session_client(other).get(detail(row.id))
    missing = session_client(other).get(detail(uuid.uuid4()))
    assert hidden.status_code == missing.status_code == 404
    assert hidden.content == missing.content
    assert hidden.json() == NOT_FOUND


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "123", "0" * 40])
def test_an_id_that_is_not_a_uuid_gets_the_same_json_404(owner: Any, bad_id: str) -> None:
    missing = session_client(owner).get(detail(uuid.uuid4()))
    for response in (session_client(owner).get(detail(bad_id)), token_client(owner).post(cancel(bad_id))):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/json"
        assert response.content == missing.content


def test_anonymous_is_refused(owner: Any) -> None:
    row = pending_for(owner)
    for response in (Client().get(detail(row.id)), Client().post(cancel(row.id))):
        assert response.status_code == 401
        assert response.json() == {"error": "Authentication required."}
        assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert TaskExecution.objects.get(pk=row.id).status == Status.PENDING


def test_tasks_without_owner_need_the_view_permission(other: Any, staff: Any, superuser: Any) -> None:
    result = tasks.add.enqueue(1, 2)  # enqueued outside any request: no owner
    assert session_client(other).get(detail(result.id)).status_code == 404
    assert session_client(staff).get(detail(result.id)).status_code == 404  # is_staff alone grants nothing
    assert session_client(superuser).get(detail(result.id)).json()["result"] == 3
    viewer = with_permissions(other, "view_taskexecution")
    assert session_client(viewer).get(detail(result.id)).json()["result"] == 3


def test_staff_without_permissions_see_and_cancel_nothing_of_others(owner: Any, staff: Any) -> None:
    with rail_tasks.acting_as(owner):
        failed = tasks.always_fails.enqueue("secret")
    row = pending_for(owner)
    assert session_client(staff).get(detail(failed.id)).json() == NOT_FOUND
    assert token_client(staff).post(cancel(row.id)).json() == NOT_FOUND
    assert TaskExecution.objects.get(pk=row.id).status == Status.PENDING


def test_traceback_and_raw_message_need_the_view_permission(owner: Any, other: Any) -> None:
    with rail_tasks.acting_as(owner):
        result = tasks.always_fails.enqueue("Key (username)=(bob) already exists")
    mine = session_client(owner).get(detail(result.id)).json()
    assert mine["status"] == "failed"
    assert mine["error"] == "ValueError: the task failed (details are hidden)."
    assert mine["exception_class"] == "builtins.ValueError"
    assert "traceback" not in mine
    assert "bob" not in json.dumps(mine)
    viewer = with_permissions(other, "view_taskexecution")
    seen = session_client(viewer).get(detail(result.id)).json()
    assert seen["error"] == "Key (username)=(bob) already exists"
    assert seen["traceback"].startswith("Traceback (most recent call last):")
    assert "ValueError: Key (username)=(bob) already exists" in seen["traceback"]


def test_expose_error_messages_shows_owners_the_message_not_the_traceback(owner: Any) -> None:
    with rail_tasks.acting_as(owner):
        result = tasks.always_fails.enqueue("kaput")
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "expose_error_messages": True}):
        mine = session_client(owner).get(detail(result.id)).json()
    assert (mine["status"], mine["error"]) == ("failed", "kaput")
    assert "traceback" not in mine


def test_rail_tasks_own_messages_are_shown_to_owners(owner: Any) -> None:
    row = pending_for(owner)
    token_client(owner).post(cancel(row.id))
    assert session_client(owner).get(detail(row.id)).json()["error"] == "Cancelled"


def test_detail_is_get_only(owner: Any) -> None:
    row = pending_for(owner)
    assert session_client(owner).post(detail(row.id)).status_code == 405


# ---------------------------------------------------------------------------
# POST cancel
# ---------------------------------------------------------------------------


def test_cancel_requires_csrf_for_session_clients(owner: Any) -> None:
    row = pending_for(owner)
    client = session_client(owner, enforce_csrf=True)
    refused = client.post(cancel(row.id))
    assert refused.status_code == 403
    assert TaskExecution.objects.get(pk=row.id).status == Status.PENDING

    secret = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    accepted = client.post(cancel(row.id), headers={"X-CSRFToken": secret})
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "cancelled"
    assert TaskExecution.objects.get(pk=row.id).status == Status.CANCELLED


def test_cancel_with_a_bearer_token_needs_no_csrf(owner: Any) -> None:
    row = pending_for(owner)
    client = token_client(owner)
    assert client.get(detail(row.id)).json()["status"] == "pending"
    response = client.post(cancel(row.id))
    assert response.status_code == 202
    body = response.json()
    assert set(body) >= SEED_KEYS
    assert body["status"] == "cancelled"
    assert body["completed_at"] is not None


def test_bad_token_is_anonymous(owner: Any) -> None:
    row = pending_for(owner)
    client = Client(headers={"Authorization": "Bearer forged"})
    assert client.get(detail(row.id)).status_code == 401


def test_token_for_another_user_gets_404_and_changes_nothing(owner: Any, other: Any) -> None:
    row = pending_for(owner)
    assert token_client(other).post(cancel(row.id)).json() == NOT_FOUND
    assert token_client(other).post(cancel(uuid.uuid4())).json() == NOT_FOUND
    assert TaskExecution.objects.get(pk=row.id).status == Status.PENDING


def test_cancelling_others_tasks_needs_view_and_cancel_permissions(owner: Any, other: Any, superuser: Any) -> None:
    row = pending_for(owner)
    viewer = with_permissions(other, "view_taskexecution")
    refused = token_client(viewer).post(cancel(row.id))
    assert (refused.status_code, refused.json()) == (403, {"error": "You may not cancel this task."})
    assert TaskExecution.objects.get(pk=row.id).status == Status.PENDING
    operator = with_permissions(viewer, "cancel_taskexecution")
    assert token_client(operator).post(cancel(row.id)).status_code == 202
    assert TaskExecution.objects.get(pk=row.id).status == Status.CANCELLED
    another = pending_for(owner)
    assert token_client(superuser).post(cancel(another.id)).status_code == 202


def test_cancel_with_a_token_cookie_requires_csrf(owner: Any) -> None:
    """A credential in a cookie rides along on a cross-site form post, whatever cookie it is."""
    row = pending_for(owner)
    client = Client(enforce_csrf_checks=True)
    client.cookies["api_token"] = token_for(owner)
    assert client.get(detail(row.id)).status_code == 200  # the cookie authenticates
    refused = client.post(cancel(row.id))
    assert refused.status_code == 403
    assert TaskExecution.objects.get(pk=row.id).status == Status.PENDING


def test_cancel_of_a_finished_task_changes_nothing(owner: Any) -> None:
    with rail_tasks.acting_as(owner):
        result = tasks.add.enqueue(2, 2)
    response = token_client(owner).post(cancel(result.id))
    assert response.status_code == 202
    assert response.json()["status"] == "completed"


def test_cancel_is_post_only(owner: Any) -> None:
    row = pending_for(owner)
    assert token_client(owner).get(cancel(row.id)).status_code == 405


# ---------------------------------------------------------------------------
# Owner: TaskOwnerMiddleware and acting_as
# ---------------------------------------------------------------------------


def test_middleware_records_the_session_user_as_owner(owner: Any) -> None:
    execution_id = session_client(owner).post("/enqueue/").json()["id"]
    assert TaskExecution.objects.get(pk=execution_id).owner == owner


def test_middleware_records_the_token_user_as_owner(other: Any) -> None:
    execution_id = token_client(other).post("/enqueue/").json()["id"]
    assert TaskExecution.objects.get(pk=execution_id).owner == other
    assert token_client(other).get(detail(execution_id)).status_code == 200


def test_anonymous_requests_enqueue_without_owner() -> None:
    execution_id = Client().post("/enqueue/").json()["id"]
    assert TaskExecution.objects.get(pk=execution_id).owner is None


def test_acting_as(owner: Any, other: Any) -> None:
    with rail_tasks.acting_as(owner):
        mine = tasks.add.enqueue(1, 1)
        with rail_tasks.acting_as(other):
            theirs = tasks.add.enqueue(1, 1)
        mine_again = tasks.add.enqueue(1, 1)
    nobody = tasks.add.enqueue(1, 1)
    with rail_tasks.acting_as(AnonymousUser()):
        anonymous = tasks.add.enqueue(1, 1)
    owners = {r.id: r.owner for r in TaskExecution.objects.all()}
    assert owners == {
        uuid.UUID(mine.id): owner,
        uuid.UUID(theirs.id): other,
        uuid.UUID(mine_again.id): owner,
        uuid.UUID(nobody.id): None,
        uuid.UUID(anonymous.id): None,
    }
    assert list(TaskExecution.objects.visible_to(other)) == [TaskExecution.objects.get(pk=theirs.id)]
