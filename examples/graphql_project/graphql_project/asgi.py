"""HTTP through Django, GraphQL websockets (graphql-transport-ws) through Channels."""

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()  # set Django up before importing Channels code

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from rail_tasks_graphql.consumers import GraphQLTransportWSConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter([path("graphql/", GraphQLTransportWSConsumer.as_asgi())]))
        ),
    }
)
