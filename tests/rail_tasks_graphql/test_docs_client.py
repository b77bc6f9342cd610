"""docs/graphql.md's Python client, as written, is accepted by the docs' own asgi.py (issue 14 #16).

The asgi.py of the docs checks ``Origin`` against ``ALLOWED_HOSTS`` (Channels'
``AllowedHostsOriginValidator``); a client that sends none is refused. Both code blocks are taken
from the page, so the example cannot drift from what works.
"""

from __future__ import annotations

import ast
import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from rail_tasks_graphql.consumers import GRAPHQL_TRANSPORT_WS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "graphql.md"

pytestmark = pytest.mark.django_db(transaction=True)


def _block(containing: str) -> str:
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.DOTALL) if containing in b]
    return block


def _client_transport_arguments(cookie: str) -> dict[str, Any]:
    """The keyword arguments the docs' client passes to ``WebsocketsTransport``, evaluated."""
    tree = ast.parse(_block("WebsocketsTransport("))
    (call,) = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "WebsocketsTransport"
    ]
    from gql.transport.websockets import WebsocketsTransport

    namespace = {"cookie": cookie, "WebsocketsTransport": WebsocketsTransport}
    return {
        kw.arg: eval(compile(ast.Expression(kw.value), "docs", "eval"), namespace) for kw in call.keywords if kw.arg
    }


def test_the_docs_client_is_accepted_by_the_docs_asgi() -> None:
    arguments = _client_transport_arguments("sessionid=none")
    url = str(arguments["url"])
    host = url.split("//", 1)[1].split("/", 1)[0]
    with override_settings(ALLOWED_HOSTS=[host.split(":")[0], "localhost"]):
        namespace: dict[str, Any] = {}
        exec(_block("ProtocolTypeRouter"), namespace)
        application = namespace["application"]

    headers = [(b"host", host.encode())]
    headers += [(name.lower().encode(), str(value).encode()) for name, value in arguments["headers"].items()]

    async def connect() -> bool:
        communicator = WebsocketCommunicator(
            application, "/graphql/", headers=headers, subprotocols=list(arguments["subprotocols"])
        )
        connected, subprotocol = await communicator.connect(timeout=10)
        if connected:
            assert subprotocol == GRAPHQL_TRANSPORT_WS
        await communicator.disconnect()
        return bool(connected)

    assert asyncio.run(connect()), f"the docs' asgi.py refuses the docs' client (headers sent: {headers})"
