"""Seeds 000/001 end to end: a GraphQL task mutation, its live progress and its result.

Run from this folder (Redis on 127.0.0.1:6379 needed; ``REDIS_URL`` to point elsewhere)::

    python run_example.py

It migrates a SQLite database, logs a demo user in (a session cookie), starts daphne and
``manage.py rail_tasks_worker`` as separate processes, then, as a client would:

1. runs seed 001's ``generateReport`` mutation over the websocket and gets a ``taskId``;
2. subscribes to ``taskProgress(taskId)`` and prints each update as the worker reports it;
3. queries ``task(id)`` over HTTP (GET) for the final state and result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

MUTATION = """
mutation GenerateReport($datasetId: String!) {
  generateReport(datasetId: $datasetId) {
    taskId
    status
  }
}
"""

SUBSCRIPTION = """
subscription TaskProgress($taskId: ID!) {
  taskProgress(taskId: $taskId) {
    id
    status
    progress
    progressMessage
    result
    error
  }
}
"""

QUERY = """
query TaskStatus($taskId: ID!) {
  task(id: $taskId) {
    id
    name
    status
    progress
    progressMessage
    result
    error
    createdAt
    startedAt
    completedAt
  }
}
"""


def setup_django() -> str:
    """Migrate and return a session cookie of the demo user."""
    sys.path.insert(0, str(HERE))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "graphql_project.settings")
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="demo")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"sessionid={session.session_key}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=HERE,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"daphne did not listen on port {port}")


async def client(port: int, cookie: str, dataset_id: str) -> str:
    from gql import Client, GraphQLRequest
    from gql.transport.websockets import WebsocketsTransport

    transport = WebsocketsTransport(
        url=f"ws://127.0.0.1:{port}/graphql/",
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
        headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
    )
    async with Client(transport=transport) as session:
        created = await session.execute(GraphQLRequest(MUTATION, variable_values={"datasetId": dataset_id}))
        task_id = str(created["generateReport"]["taskId"])
        print("mutation ->", json.dumps(created))
        request = GraphQLRequest(SUBSCRIPTION, variable_values={"taskId": task_id})
        async for update in session.subscribe(request):
            print("subscription ->", json.dumps(update["taskProgress"]))
    return task_id


def query(port: int, cookie: str, task_id: str) -> dict[str, Any]:
    params = urllib.parse.urlencode({"query": QUERY, "variables": json.dumps({"taskId": task_id})})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql/?{params}", headers={"Cookie": cookie, "Accept": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset-id", default="123")
    parser.add_argument("--logs", default=str(HERE), help="folder for daphne.log and worker.log")
    args = parser.parse_args()
    cookie = setup_django()
    port = free_port()
    logs = Path(args.logs)
    server = start(
        ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "graphql_project.asgi:application"], logs / "daphne.log"
    )
    worker = start(["manage.py", "rail_tasks_worker", "--poll-interval", "0.2"], logs / "worker.log")
    try:
        wait_for_port(port)
        task_id = asyncio.run(asyncio.wait_for(client(port, cookie, args.dataset_id), timeout=60))
        print("query ->", json.dumps(query(port, cookie, task_id)))
    finally:
        for process in (worker, server):
            process.send_signal(signal.SIGTERM)
        for process in (worker, server):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
