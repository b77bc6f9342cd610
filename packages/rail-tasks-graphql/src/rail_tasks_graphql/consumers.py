"""A Channels websocket consumer speaking the ``graphql-transport-ws`` protocol.

Serves graphene's native subscriptions (any schema, the task subscriptions included),
and queries and mutations too, over one websocket::

    # asgi.py
    from channels.auth import AuthMiddlewareStack
    from channels.routing import ProtocolTypeRouter, URLRouter
    from django.urls import path
    from rail_tasks_graphql.consumers import GraphQLTransportWSConsumer

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter([path("graphql/", GraphQLTransportWSConsumer.as_asgi())])),
    })

The schema is ``GRAPHENE["SCHEMA"]`` unless given (``as_asgi(schema=my_schema)``).
``info.context`` is a :class:`WebSocketContext`: ``user`` comes from the ASGI scope
(set by Channels' ``AuthMiddlewareStack`` or your own token middleware). Override
:meth:`GraphQLTransportWSConsumer.on_connection_init` to authenticate from the
``connection_init`` payload.

What it enforces by itself (docs/security.md):

* ``Origin``: a browser page from another site is refused during the handshake (the
  origin must be this site, or listed in ``CSRF_TRUSTED_ORIGINS`` or the task setting
  ``websocket_allowed_origins``; hosts of ``ALLOWED_HOSTS`` other than ``*`` count too);
  clients that send no ``Origin`` are not browsers and pass. No need for Channels'
  ``AllowedHostsOriginValidator``.
* the user is re-read on every operation (queries and mutations too): deactivated,
  deleted or logged-out users (their session gone) run as anonymous from then on;
* the GraphQL cost limits of :mod:`rail_tasks_graphql.validation`;
* at most ``websocket_max_operations`` operations at once per connection;
* no message above ``websocket_max_message_bytes``: a larger result is answered with
  an ``error`` for its operation (servers drop larger frames: the client would wait
  forever);
* any failure inside an operation ends it with an ``error``, never in silence.

Protocol: https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md
(close codes 4400 bad message, 4401 subscribe before ack, 4403 refused, 4406 wrong
subprotocol, 4408 no ``connection_init`` in time, 4409 duplicate id, 4429 second init).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from django.utils.crypto import constant_time_compare
from graphql import (
    ExecutionResult,
    GraphQLError,
    OperationType,
    execute,
    get_operation_ast,
    subscribe,
    validate,
)

from rail_tasks import task_settings
from rail_tasks_graphql.validation import parse_document, validation_rules

__all__ = ["GRAPHQL_TRANSPORT_WS", "GraphQLTransportWSConsumer", "MessageTooLarge", "WebSocketContext"]

logger = logging.getLogger("rail_tasks.graphql")

#: The subprotocol name clients offer (``Sec-WebSocket-Protocol``).
GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"


@dataclass
class WebSocketContext:
    """``info.context`` of operations run over the websocket."""

    #: The connection's user (``AnonymousUser`` when not authenticated).
    user: Any
    #: The ASGI scope of the connection.
    scope: dict[str, Any]
    #: The ``connection_init`` payload the client sent.
    connection_params: dict[str, Any] = field(default_factory=dict)
    #: Re-reads the connection's user now (synchronous, database): what long-running
    #: subscriptions call to notice a deactivated or logged-out user.
    current_user: Callable[[], Any] | None = None


class GraphQLTransportWSConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """GraphQL over websocket (``graphql-transport-ws``) for graphene schemas."""

    #: The graphene schema; ``None`` reads ``GRAPHENE["SCHEMA"]``.
    schema: Any = None
    #: Seconds a client has to send ``connection_init``.
    connection_init_wait_timeout: float = 10.0

    async def connect(self) -> None:
        """Accept the handshake, choosing ``graphql-transport-ws``, and wait for ``connection_init``.

        A browser page of a foreign origin is refused before the handshake completes.
        """
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.acknowledged = False
        self.init_received = False
        self.context: WebSocketContext | None = None
        if not self.origin_allowed(self._header(b"origin")):
            logger.warning("Websocket from origin %r refused", self._header(b"origin"))
            await self.close(code=4403)
            return
        if GRAPHQL_TRANSPORT_WS not in self.scope.get("subprotocols", []):
            await self.accept()
            await self.close(code=4406)
            return
        await self.accept(GRAPHQL_TRANSPORT_WS)
        self._init_timer = asyncio.create_task(self._close_unless_initialised())

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.connection_init_wait_timeout)
        if not self.init_received:
            await self.close(code=4408)

    async def disconnect(self, code: int) -> None:
        """Stop every running operation (their subscriptions leave their groups)."""
        timer = getattr(self, "_init_timer", None)
        if timer is not None:
            timer.cancel()
        running = list(getattr(self, "operations", {}).values())
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running, timeout=5)

    def _header(self, name: bytes) -> str | None:
        for key, value in self.scope.get("headers") or ():
            if key.lower() == name:
                return bytes(value).decode("latin-1")
        return None

    def origin_allowed(self, origin: str | None) -> bool:
        """Whether a handshake with this ``Origin`` header may proceed; override to decide yourself.

        No ``Origin``: not a browser, allowed. Otherwise the origin must be this site (its
        host and port equal the ``Host`` header, itself valid for ``ALLOWED_HOSTS``), or one
        of ``CSRF_TRUSTED_ORIGINS`` / the task setting ``websocket_allowed_origins``
        (``https://*.example.com`` wildcards allowed), or its host must match
        ``ALLOWED_HOSTS`` (a bare ``*`` there accepts any Host header, not any origin).
        ``websocket_check_origin: False`` switches the check off.
        """
        if origin is None or not task_settings.websocket_check_origin:
            return True
        parts = urlsplit(origin.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False  # "null" (sandboxed frames, file://) and anything unparsable
        netloc = parts.netloc.lower()
        allowed_hosts = [h for h in _allowed_hosts() if h != "*"]
        host = (self._header(b"host") or "").lower()
        if host and host == netloc and validate_host(split_domain_port(host)[0], _allowed_hosts()):
            return True
        trusted = [*getattr(settings, "CSRF_TRUSTED_ORIGINS", []), *task_settings.websocket_allowed_origins]
        if any(_origin_matches(parts.scheme, netloc, entry) for entry in trusted):
            return True
        domain, _port = split_domain_port(netloc)
        return bool(domain) and validate_host(domain, allowed_hosts)

    def current_user(self) -> Any:
        """The connection's user as the database sees it now (synchronous; runs per operation).

        ``AnonymousUser`` when the user was deleted or deactivated, or, for a user that came
        from a session, when that session is gone (logged out) or no longer matches the
        user's password.
        """
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return AnonymousUser()
        fresh = get_user_model()._default_manager.filter(pk=user.pk).first()
        if fresh is None or not getattr(fresh, "is_active", True):
            return AnonymousUser()
        session = self.scope.get("session")
        session_key = getattr(session, "session_key", None)
        if session is not None and session_key and str(session.get(SESSION_KEY)) == str(user.pk):
            stored = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()
            if str(stored.get(SESSION_KEY)) != str(user.pk):
                return AnonymousUser()
            verify = getattr(fresh, "get_session_auth_hash", None)
            if verify is not None and not constant_time_compare(stored.get(HASH_SESSION_KEY, ""), verify()):
                return AnonymousUser()
            if stored.get(BACKEND_SESSION_KEY) and not hasattr(fresh, "backend"):
                fresh.backend = stored[BACKEND_SESSION_KEY]
        return fresh

    def get_schema(self) -> Any:
        """The graphene schema to serve."""
        if self.schema is None:
            from graphene_django.settings import graphene_settings

            self.schema = graphene_settings.SCHEMA
        return self.schema

    async def on_connection_init(self, payload: dict[str, Any]) -> bool:
        """Accept or refuse the connection after ``connection_init``; override to authenticate.

        Set ``self.scope["user"]`` here to authenticate from ``payload`` (a token, say).
        Return ``False`` to close the connection with 4403.
        """
        return True

    async def send_message(self, message: dict[str, Any]) -> None:
        """Send one protocol message as JSON.

        A ``next`` larger than ``websocket_max_message_bytes`` is replaced by an ``error``
        for its operation (:class:`MessageTooLarge` is raised after it, to end the operation).
        """
        text = json.dumps(message)
        limit = int(task_settings.websocket_max_message_bytes)
        if message.get("type") == "next" and len(text.encode()) > limit:
            error = GraphQLError(
                f"The result is larger than {limit} bytes (task setting websocket_max_message_bytes); "
                "select fewer fields or fewer tasks.",
                extensions={"code": "RESULT_TOO_LARGE"},
            )
            await self.send(
                text_data=json.dumps({"id": message.get("id"), "type": "error", "payload": [error.formatted]})
            )
            raise MessageTooLarge(str(message.get("id")))
        await self.send(text_data=text)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """Dispatch one client message."""
        try:
            message = json.loads(text_data or (bytes_data or b"").decode())
            kind = message["type"]
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            await self.close(code=4400)
            return
        if kind == "connection_init":
            await self._connection_init(message.get("payload") or {})
        elif kind == "ping":
            await self.send_message({"type": "pong"})
        elif kind == "pong":
            return
        elif kind == "subscribe":
            await self._subscribe(message)
        elif kind == "complete":
            task = self.operations.pop(str(message.get("id")), None)
            if task is not None:
                task.cancel()
        else:
            await self.close(code=4400)

    async def _connection_init(self, payload: Any) -> None:
        if self.init_received:
            await self.close(code=4429)
            return
        self.init_received = True
        if not isinstance(payload, dict) or not await self.on_connection_init(payload):
            await self.close(code=4403)
            return
        user = self.scope.get("user") or AnonymousUser()
        self.context = WebSocketContext(user=user, scope=self.scope, connection_params=payload)
        self.acknowledged = True
        await self.send_message({"type": "connection_ack"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        if not self.acknowledged:
            await self.close(code=4401)
            return
        op_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(op_id, str) or not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            await self.close(code=4400)
            return
        if op_id in self.operations:
            await self.close(code=4409)
            return
        limit = int(task_settings.websocket_max_operations)
        if len(self.operations) >= limit:
            error = GraphQLError(
                f"Too many operations on this connection (at most {limit} at once; task setting "
                "websocket_max_operations). Complete some first.",
                extensions={"code": "TOO_MANY_OPERATIONS"},
            )
            await self._send_errors(op_id, [error])
            return
        task = asyncio.create_task(self._guarded_operation(op_id, payload))
        self.operations[op_id] = task
        task.add_done_callback(functools.partial(self._forget, op_id))

    def _forget(self, op_id: str, task: asyncio.Task[None]) -> None:
        if self.operations.get(op_id) is task:
            del self.operations[op_id]

    async def _send_errors(self, op_id: str, errors: list[GraphQLError]) -> None:
        await self.send_message({"id": op_id, "type": "error", "payload": [e.formatted for e in errors]})

    async def _guarded_operation(self, op_id: str, payload: dict[str, Any]) -> None:
        """Run one operation; whatever goes wrong, the client gets an ``error`` for it."""
        try:
            await self._run_operation(op_id, payload)
        except asyncio.CancelledError:
            raise
        except MessageTooLarge:
            return  # answered with an error already
        except Exception:
            logger.exception("GraphQL websocket operation %s failed", op_id)
            with contextlib.suppress(Exception):
                await self._send_errors(op_id, [GraphQLError("Internal error.", extensions={"code": "INTERNAL_ERROR"})])

    async def _operation_context(self) -> WebSocketContext:
        """A context for one operation, with the user re-read now."""
        assert self.context is not None
        user = await database_sync_to_async(self.current_user)()
        return WebSocketContext(
            user=user,
            scope=self.scope,
            connection_params=self.context.connection_params,
            current_user=self.current_user,
        )

    async def _run_operation(self, op_id: str, payload: dict[str, Any]) -> None:
        schema = self.get_schema()
        variables = payload.get("variables") or None
        operation_name = payload.get("operationName") or None
        try:
            document = parse_document(payload["query"])
        except GraphQLError as error:
            await self._send_errors(op_id, [error])
            return
        errors = validate(schema.graphql_schema, document, validation_rules())
        if errors:
            await self._send_errors(op_id, errors)
            return
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            await self._send_errors(op_id, [GraphQLError("Unknown operation named " + repr(operation_name))])
            return
        context = await self._operation_context()
        if operation.operation == OperationType.SUBSCRIPTION:
            outcome = await subscribe(
                schema.graphql_schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
            )
            if isinstance(outcome, ExecutionResult):
                await self._send_errors(op_id, list(outcome.errors or []))
                return
            await self._pump(op_id, outcome)
            return
        result = await database_sync_to_async(_execute_sync)(
            schema.graphql_schema, document, context, variables, operation_name
        )
        try:
            await self.send_message({"id": op_id, "type": "next", "payload": result.formatted})
        except MessageTooLarge:
            return  # answered with an error
        await self.send_message({"id": op_id, "type": "complete"})

    async def _pump(self, op_id: str, stream: AsyncIterator[ExecutionResult]) -> None:
        try:
            async for result in stream:
                await self.send_message({"id": op_id, "type": "next", "payload": result.formatted})
        except asyncio.CancelledError:
            raise
        except MessageTooLarge:
            return  # answered with an error; the subscription ends
        except GraphQLError as error:
            await self._send_errors(op_id, [error])
            return
        except Exception:
            logger.exception("Subscription %s failed", op_id)
            await self._send_errors(op_id, [GraphQLError("Internal error.")])
            return
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        await self.send_message({"id": op_id, "type": "complete"})


class MessageTooLarge(Exception):
    """A ``next`` message was over ``websocket_max_message_bytes``; an ``error`` was sent instead."""


def _execute_sync(schema: Any, document: Any, context: Any, variables: Any, operation_name: Any) -> ExecutionResult:
    """Execute a parsed, validated query or mutation (in a worker thread: resolvers use the ORM)."""
    result = execute(schema, document, context_value=context, variable_values=variables, operation_name=operation_name)
    if not isinstance(result, ExecutionResult):  # async resolvers in a query: run them here
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable: Any) -> ExecutionResult:
    return await awaitable  # type: ignore[no-any-return]


def _allowed_hosts() -> list[str]:
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's request.get_host() does
    return hosts


def _origin_matches(scheme: str, netloc: str, entry: str) -> bool:
    """Whether ``scheme://netloc`` is the trusted origin ``entry`` (``https://*.example.com`` wildcards)."""
    trusted = urlsplit(entry.strip().lower())
    if trusted.scheme != scheme or not trusted.netloc:
        return False
    if trusted.netloc.startswith("*."):
        suffix = trusted.netloc[1:]
        return netloc.endswith(suffix) and len(netloc) > len(suffix)
    return trusted.netloc == netloc
