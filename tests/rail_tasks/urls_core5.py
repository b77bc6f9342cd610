"""URLs for the REST and owner tests: the rail-tasks API plus a view that enqueues."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

from tests.taskapp import tasks


@csrf_exempt
def enqueue_view(request: HttpRequest) -> JsonResponse:
    """Enqueue a task inside a request; TaskOwnerMiddleware records the owner."""
    result = tasks.add.using(backend="database").enqueue(1, 2)
    return JsonResponse({"id": result.id})


urlpatterns = [
    path("api/v1/", include("rail_tasks.urls")),
    path("enqueue/", enqueue_view),
]
