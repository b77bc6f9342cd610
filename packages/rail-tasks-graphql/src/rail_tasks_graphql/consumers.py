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
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import AnonymousUser
from graphql import (
    ExecutionResult,
    GraphQLError,
    OperationType,
    get_operation_ast,
    parse,
    subscribe,
    validate,
)

__all__ = ["GRAPHQL_TRANSPORT_WS", "GraphQLTransportWSConsumer", "WebSocketContext"]

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


class GraphQLTransportWSConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    """GraphQL over websocket (``graphql-transport-ws``) for graphene schemas."""

    #: The graphene schema; ``None`` reads ``GRAPHENE["SCHEMA"]``.
    schema: Any = None
    #: Seconds a client has to send ``connection_init``.
    connection_init_wait_timeout: float = 10.0

    async def connect(self) -> None:
        """Accept the handshake, choosing ``graphql-transport-ws``, and wait for ``connection_init``."""
        self.operations: dict[str, asyncio.Task[None]] = {}
        self.acknowledged = False
        self.init_received = False
        self.context: WebSocketContext | None = None
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
        """Send one protocol message as JSON."""
        await self.send(text_data=json.dumps(message))

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
        task = asyncio.create_task(self._run_operation(op_id, payload))
        self.operations[op_id] = task
        task.add_done_callback(functools.partial(self._forget, op_id))

    def _forget(self, op_id: str, task: asyncio.Task[None]) -> None:
        if self.operations.get(op_id) is task:
            del self.operations[op_id]

    async def _send_errors(self, op_id: str, errors: list[GraphQLError]) -> None:
        await self.send_message({"id": op_id, "type": "error", "payload": [e.formatted for e in errors]})

    async def _run_operation(self, op_id: str, payload: dict[str, Any]) -> None:
        schema = self.get_schema()
        variables = payload.get("variables") or None
        operation_name = payload.get("operationName") or None
        try:
            document = parse(payload["query"])
        except GraphQLError as error:
            await self._send_errors(op_id, [error])
            return
        errors = validate(schema.graphql_schema, document)
        if errors:
            await self._send_errors(op_id, errors)
            return
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            await self._send_errors(op_id, [GraphQLError("Unknown operation named " + repr(operation_name))])
            return
        if operation.operation == OperationType.SUBSCRIPTION:
            outcome = await subscribe(
                schema.graphql_schema,
                document,
                context_value=self.context,
                variable_values=variables,
                operation_name=operation_name,
            )
            if isinstance(outcome, ExecutionResult):
                await self._send_errors(op_id, list(outcome.errors or []))
                return
            await self._pump(op_id, outcome)
            return
        result = await database_sync_to_async(schema.execute)(
            payload["query"],
            context_value=self.context,
            variable_values=variables,
            operation_name=operation_name,
        )
        await self.send_message({"id": op_id, "type": "next", "payload": result.formatted})
        await self.send_message({"id": op_id, "type": "complete"})

    async def _pump(self, op_id: str, stream: AsyncIterator[ExecutionResult]) -> None:
        try:
            async for result in stream:
                await self.send_message({"id": op_id, "type": "next", "payload": result.formatted})
        except asyncio.CancelledError:
            raise
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
