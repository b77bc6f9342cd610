"""REST status endpoints: ``GET tasks/<uuid>/`` and ``POST tasks/<uuid>/cancel/``.

Who sees and cancels what is :mod:`rail_tasks.permissions` (the owner, or the
model permissions; ``is_staff`` alone grants nothing). Everyone else, and a
missing id, get the same 404. Anonymous requests get 401. Authentication is
whatever sets ``request.user`` (session, cookie or header token/JWT middleware).
A cancel is CSRF-checked unless its credentials travel in an ``Authorization``
header, which a third-party page cannot make a browser send.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from rail_tasks.models import TaskExecution
from rail_tasks.permissions import may_cancel
from rail_tasks.runner import cancel_execution
from rail_tasks.serializers import execution_to_dict

__all__ = ["task_cancel", "task_detail"]


def _refuse_anonymous(request: HttpRequest) -> JsonResponse | None:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        response = JsonResponse({"error": "Authentication required."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    return None


def _visible(request: HttpRequest, task_id: str | UUID) -> TaskExecution | None:
    try:
        pk = task_id if isinstance(task_id, UUID) else UUID(str(task_id))
    except ValueError:
        return None  # not a UUID: the same answer as a missing id
    return TaskExecution.objects.visible_to(request.user).filter(pk=pk).first()


def _not_found() -> JsonResponse:
    return JsonResponse({"error": "Task not found."}, status=404)


@require_GET
def task_detail(request: HttpRequest, task_id: str | UUID) -> JsonResponse:
    """The execution's status as JSON (seed 001's shape)."""
    if refused := _refuse_anonymous(request):
        return refused
    execution = _visible(request, task_id)
    if execution is None:
        return _not_found()
    return JsonResponse(execution_to_dict(execution, request.user))


def _csrf_failure(request: HttpRequest) -> HttpResponse | None:
    """Enforce CSRF unless the credentials came in an ``Authorization`` header.

    Any cookie (Django's session, or a token kept in a cookie by some other
    middleware) is sent by the browser on a cross-site form post, so only a
    header-borne credential, which no foreign page can add, skips the check.
    """
    if request.headers.get("Authorization"):
        return None
    check = CsrfViewMiddleware(lambda _request: HttpResponse())
    return check.process_view(request, _no_view, (), {})


def _no_view(request: HttpRequest) -> HttpResponse:  # pragma: no cover - never called
    return HttpResponse()


@csrf_exempt  # CSRF is enforced below for every client whose credentials are not in a header
@require_POST
def task_cancel(request: HttpRequest, task_id: str | UUID, **_: Any) -> HttpResponse:
    """Cancel the execution (at once when waiting, at its next progress update when running)."""
    if refused := _refuse_anonymous(request):
        return refused
    if failure := _csrf_failure(request):
        return failure
    execution = _visible(request, task_id)
    if execution is None:
        return _not_found()
    if not may_cancel(request.user, execution):
        return JsonResponse({"error": "You may not cancel this task."}, status=403)
    execution = cancel_execution(execution.pk)
    execution.refresh_from_db()
    return JsonResponse(execution_to_dict(execution, request.user), status=202)
