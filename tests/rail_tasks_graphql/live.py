"""Helpers for the live tests: a daphne server, worker processes, HTTP and websocket GraphQL clients."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import redis
from django.test import Client as DjangoClient
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.process import REPO_ROOT, start_django_command, subprocess_env
from tests.rail_tasks_graphql.settings_extra import REDIS_URL

LIVE_SETTINGS = "tests.rail_tasks_graphql.live_settings"


def live_env() -> dict[str, str]:
    """Environment of the example project's processes: the test database, the live settings."""
    return subprocess_env(DJANGO_SETTINGS_MODULE=LIVE_SETTINGS)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"daphne exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"daphne did not listen on {port} within {timeout}s")


class LiveServer:
    """A daphne process serving the example project on a loopback port."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log = log

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql/"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql/"

    def post(self, query: str, variables: dict[str, Any] | None = None, cookie: str | None = None) -> dict[str, Any]:
        """A GraphQL request over HTTP (graphene-django's view)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        request = urllib.request.Request(self.http_url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=20) as response:
            return dict(json.loads(response.read()))

    @asynccontextmanager
    async def session(self, cookie: str | None = None) -> AsyncIterator[Any]:
        """A gql websocket session speaking graphql-transport-ws."""
        transport = WebsocketsTransport(
            url=self.ws_url,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            headers={"Cookie": cookie} if cookie else None,
        )
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            yield session


@contextmanager
def daphne_server(tmp_path: Path) -> Iterator[LiveServer]:
    """Start daphne on a free port with the live settings; stopped (and reaped) on exit."""
    port = _free_port()
    log = tmp_path / "daphne.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "tests.rail_tasks_graphql.example.asgi:application",
            ],
            env=live_env(),
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process)
        yield LiveServer(port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def session_cookie(user: Any) -> str:
    """A ``Cookie`` header value logged in as ``user`` (a real session row in the test database)."""
    client = DjangoClient()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def worker_available() -> bool:
    """Whether the core's database worker command exists yet."""
    return importlib.util.find_spec("rail_tasks.management.commands.rail_tasks_worker") is not None


def run_worker_burst(timeout: float = 60.0) -> subprocess.CompletedProcess[bytes]:
    """Run the database worker until the queue is empty, in its own process."""
    if worker_available():
        process = start_django_command(
            "rail_tasks_worker",
            "--backend",
            "database",
            "--burst",
            "--poll-interval",
            "0.1",
            env=live_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, out)
    # Stand-in until the worker lands: a process that runs each pending execution through the core's runner.
    script = (
        "import django; django.setup()\n"
        "import rail_tasks\n"
        "from rail_tasks import TaskExecution\n"
        "for pk in TaskExecution.objects.ready().filter(backend='database').values_list('pk', flat=True):\n"
        "    rail_tasks.run_execution(pk)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], env=live_env(), cwd=REPO_ROOT, capture_output=True, timeout=timeout, check=False
    )


def request(document: str, variables: dict[str, Any] | None = None) -> GraphQLRequest:
    """A gql request with its variables."""
    return GraphQLRequest(document, variable_values=variables)


def group_members(group: str) -> int:
    """How many channels joined ``group`` on the test Redis (channels-redis keeps a sorted set per group)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return int(client.zcard(f"asgi:group:{group}"))
    finally:
        client.close()


async def wait_for_members(group: str, count: int = 1, timeout: float = 15.0) -> None:
    """Wait until ``count`` subscriptions joined ``group`` (so no event can be missed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await asyncio.to_thread(group_members, group) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"nobody joined {group} within {timeout}s")


__all__ = ["LiveServer", "daphne_server", "request", "run_worker_burst", "session_cookie", "wait_for_members"]


@asynccontextmanager
async def cgws_session(server: LiveServer, cookie: str | None = None) -> AsyncIterator[Any]:
    """A gql websocket session on the channels-graphql-ws endpoint (the older ``graphql-ws`` protocol)."""
    transport = WebsocketsTransport(
        url=f"ws://127.0.0.1:{server.port}/graphql-cgws/",
        subprotocols=[WebsocketsTransport.APOLLO_SUBPROTOCOL],
        headers={"Cookie": cookie} if cookie else None,
    )
    async with Client(transport=transport, fetch_schema_from_transport=False) as session:
        yield session
