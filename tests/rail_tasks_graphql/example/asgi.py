"""ASGI entry point of the example project: HTTP through Django, GraphQL websockets through Channels."""

from __future__ import annotations

import importlib.util

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()  # sets Django up before the imports below

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from rail_tasks_graphql.consumers import GraphQLTransportWSConsumer  # noqa: E402

websocket_routes = [path("graphql/", GraphQLTransportWSConsumer.as_asgi())]

if importlib.util.find_spec("channels_graphql_ws") is not None:
    # Projects that already run channels-graphql-ws serve the same task subscriptions there.
    from .cgws import TasksGraphqlWsConsumer

    websocket_routes.append(path("graphql-cgws/", TasksGraphqlWsConsumer.as_asgi()))

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(websocket_routes)),
    }
)
