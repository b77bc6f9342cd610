"""GraphQL cost limits: depth, aliases, fields, tokens, operations and mutations per request (HTTP view)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.core import checks
from django.test import Client, override_settings

from rail_tasks import TaskExecution
from rail_tasks_graphql.validation import validation_rules

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.urls("tests.rail_tasks_graphql.example.urls")]


def post(query: str, user: Any = None, **variables: Any) -> dict[str, Any]:
    client = Client()
    if user is not None:
        client.force_login(user)
    response = client.post("/graphql/", json.dumps({"query": query, "variables": variables}), "application/json")
    return dict(response.json())


def codes(out: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code", "") for e in out.get("errors", [])]


def test_a_thousand_aliased_task_lists_are_refused_before_reading_a_row(users) -> None:
    TaskExecution.objects.bulk_create(TaskExecution(name="t", task_path="x.y", owner=users["alice"]) for _ in range(5))
    query = "{ " + " ".join(f"a{n}: tasks(limit: 100) {{ id }}" for n in range(1000)) + " }"
    out = post(query, users["alice"])
    assert "data" not in out or out["data"] is None
    assert "LIMIT_EXCEEDED" in codes(out)


def test_a_hundred_thousand_typename_aliases_are_refused_while_parsing(users) -> None:
    query = "{ " + " ".join(f"a{n}: __typename" for n in range(100_000)) + " }"
    out = post(query, users["alice"])
    assert codes(out) == ["LIMIT_EXCEEDED"]
    assert "graphql_max_tokens" in out["errors"][0]["message"]


def test_three_hundred_aliased_task_mutations_enqueue_nothing(users) -> None:
    query = "mutation { " + " ".join(f"m{n}: whoami {{ taskId }}" for n in range(300)) + " }"
    out = post(query, users["alice"])
    assert "LIMIT_EXCEEDED" in codes(out)
    assert not TaskExecution.objects.exists()


def test_mutations_per_operation_without_aliases_through_fragments(users) -> None:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "graphql_max_mutations": 1}):
        query = "mutation { ...M ...M } fragment M on Mutation { whoami { taskId } }"
        out = post(query, users["alice"])
    assert codes(out) == ["LIMIT_EXCEEDED"]
    assert "graphql_max_mutations" in out["errors"][0]["message"]
    assert not TaskExecution.objects.exists()


def test_fields_are_counted_through_nested_fragments(users) -> None:
    fragments = "fragment F0 on TaskExecution { id name status }\n" + "\n".join(
        f"fragment F{n} on TaskExecution {{ ...F{n - 1} ...F{n - 1} }}" for n in range(1, 12)
    )
    out = post("{ tasks { ...F11 } }\n" + fragments, users["alice"])  # 3 * 2**11 fields, few tokens
    assert codes(out) == ["LIMIT_EXCEEDED"]
    assert "graphql_max_fields" in out["errors"][0]["message"]


def test_depth_and_operations(users) -> None:
    with override_settings(RAIL_TASKS={**settings.RAIL_TASKS, "graphql_max_depth": 1}):
        out = post('mutation { generateReport(datasetId: "1") { task { id } } }', users["alice"])
    assert "exceeds maximum operation depth" in out["errors"][0]["message"]
    assert not TaskExecution.objects.exists()
    many = " ".join(f"query Q{n} {{ hello }}" for n in range(11))
    out = post(many, users["alice"])
    assert "graphql_max_operations" in " ".join(e["message"] for e in out["errors"])


def test_ordinary_documents_pass(users) -> None:
    out = post("query Mine { a: tasks(limit: 5) { id name status } b: hello }", users["alice"])
    assert "errors" not in out, out
    assert out["data"] == {"a": [], "b": "world"}


def test_validation_rules_extend_the_standard_rules() -> None:
    from graphql import specified_rules

    rules = validation_rules()
    assert rules[: len(specified_rules)] == tuple(specified_rules)
    assert len(rules) == len(specified_rules) + 2


def test_a_message_limit_above_daphnes_frame_is_a_warning() -> None:
    with override_settings(RAIL_TASKS={"websocket_max_message_bytes": 4_000_000}):
        found = [m for m in checks.run_checks() if m.id.startswith("rail_tasks.")]
    assert [m.id for m in found] == ["rail_tasks.W004"]
    with override_settings(RAIL_TASKS={"websocket_max_message_bytes": 1_048_576}):
        assert not [m for m in checks.run_checks() if m.id.startswith("rail_tasks.")]


@pytest.mark.parametrize(
    ("key", "value", "check_id"),
    [
        ("graphql_max_depth", 0, "rail_tasks.E004"),
        ("graphql_max_aliases", "30", "rail_tasks.E003"),
        ("websocket_max_operations", -1, "rail_tasks.E004"),
        ("websocket_check_origin", "yes", "rail_tasks.E003"),
        ("websocket_allowed_origins", ["evil.example"], "rail_tasks.E004"),
        ("websocket_allowed_origins", "https://a.example", "rail_tasks.E003"),
    ],
)
def test_bad_limit_settings_are_system_check_errors(key: str, value: object, check_id: str) -> None:
    with override_settings(RAIL_TASKS={key: value}):
        errors = [e for e in checks.run_checks() if e.id.startswith("rail_tasks.E")]
    assert [e.id for e in errors] == [check_id]
    assert key in errors[0].msg
