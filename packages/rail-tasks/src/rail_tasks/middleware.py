"""Middleware recording the requesting user as the owner of tasks it enqueues."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from rail_tasks.owner import acting_as

__all__ = ["TaskOwnerMiddleware"]


class TaskOwnerMiddleware:
    """Enqueue inside a request as ``request.user`` (place after authentication middleware).

    Works for sync and async views.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[Any], Any]) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if iscoroutinefunction(self):
            return self.__acall__(request)
        with acting_as(getattr(request, "user", None)):
            return self.get_response(request)

    async def __acall__(self, request: Any) -> Any:
        """Async path: the owner context is set around the awaited response."""
        user = getattr(request, "user", None)
        with acting_as(user):
            response: Awaitable[Any] = self.get_response(request)
            return await response
