"""A tiny bearer-token authentication middleware, standing in for a project's token/JWT authentication.

It proves the REST views work with *whatever* sets ``request.user``: a signed
token in ``Authorization: Bearer <token>`` becomes the request's user, with no
session and no CSRF cookie. Real projects use django-rest-framework-simplejwt,
django-oauth-toolkit, etc.; the views only read ``request.user``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, HttpResponse

SALT = "rail-tasks-tests-bearer"


def token_for(user: Any) -> str:
    """A bearer token for ``user``."""
    return signing.dumps(user.pk, salt=SALT)


class CookieTokenMiddleware:
    """Set ``request.user`` from a token kept in the ``api_token`` cookie (no Django session)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = request.COOKIES.get("api_token")
        if token:
            try:
                pk = signing.loads(token, salt=SALT, max_age=3600)
            except signing.BadSignature:
                pk = None
            user = get_user_model().objects.filter(pk=pk, is_active=True).first() if pk is not None else None
            if user is not None:
                request.user = user
        return self.get_response(request)


class BearerTokenMiddleware:
    """Set ``request.user`` from a valid bearer token; leave the request alone otherwise."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            try:
                pk = signing.loads(header.removeprefix("Bearer "), salt=SALT, max_age=3600)
            except signing.BadSignature:
                pk = None
            user = get_user_model().objects.filter(pk=pk, is_active=True).first() if pk is not None else None
            if user is not None:
                request.user = user
        return self.get_response(request)
