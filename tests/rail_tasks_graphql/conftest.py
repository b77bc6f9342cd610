"""Fixtures for the rail-tasks-graphql tests: users, a request-like context and graphene's test client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from graphene.test import Client

from tests.rail_tasks_graphql.example.schema import schema


@pytest.fixture
def users(django_user_model: Any) -> dict[str, Any]:
    """alice and bob (plain users), root (a superuser: every permission) and staff (``is_staff`` only)."""
    return {
        "alice": django_user_model.objects.create_user("alice"),
        "bob": django_user_model.objects.create_user("bob"),
        "root": django_user_model.objects.create_superuser("root"),
        "staff": django_user_model.objects.create_user("staff", is_staff=True),
    }


#: What an owner without the view permission is shown of a ``ValueError("boom")``.
HIDDEN_VALUE_ERROR = "ValueError: the task failed (details are hidden)."


@pytest.fixture
def gql() -> Callable[..., dict[str, Any]]:
    """``gql(query, user=None, variables=None, schema=...)``: run a document as ``user`` (a real request)."""
    factory = RequestFactory()

    def run(query: str, *, user: Any = None, variables: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, Any]:
        request = factory.post("/graphql/", HTTP_COOKIE="sessionid=secret-cookie", HTTP_AUTHORIZATION="Bearer t0k3n")
        request.user = user if user is not None else AnonymousUser()
        client = Client(kwargs.pop("schema", schema))
        return dict(client.execute(query, context_value=request, variable_values=variables, **kwargs))

    return run


@pytest.fixture(autouse=True)
def _publishing_not_paused() -> None:
    """Start every test with event publishing on: an earlier test in this process (the Celery
    suite's Redis restart) may have paused it after a failed send."""
    from rail_tasks_graphql import events

    events._sender.paused_until = 0.0
