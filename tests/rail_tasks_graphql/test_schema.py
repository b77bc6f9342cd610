"""The settings-built schema (seed 001's mutation_extensions) and seed 000's snake_case examples verbatim."""

from __future__ import annotations

from collections.abc import Iterator

import graphene
import pytest
from django.test import override_settings
from django.utils.module_loading import import_string

from rail_tasks import TaskExecution
from rail_tasks_graphql import TaskControlMutations, TaskQueries, TaskSubscriptions, build_schema
from rail_tasks_graphql.schema import reset_schema

pytestmark = pytest.mark.django_db(transaction=True)

SEED_000 = {
    "task_settings": {"enabled": True},
    "schema_settings": {"mutation_extensions": ["tests.rail_tasks_graphql.example.graphql.TaskMutations"]},
}

SEED_000_MUTATION = """
mutation {
  generate_report(dataset_id: "123") {
    taskId
    status
  }
}
"""

SEED_000_QUERY = """
query {
  task(id: "%s") {
    id
    status
    progress
    result
    error
    created_at
    completed_at
  }
}
"""


@pytest.fixture
def settings_schema() -> Iterator[graphene.Schema]:
    with override_settings(RAIL_DJANGO_GRAPHQL=SEED_000):
        reset_schema()
        try:
            yield import_string("rail_tasks_graphql.schema.schema")
        finally:
            reset_schema()


def test_seed_000_examples_verbatim_on_the_settings_schema(gql, users, settings_schema) -> None:
    out = gql(SEED_000_MUTATION, user=users["alice"], schema=settings_schema)
    assert "errors" not in out, out
    task_id = out["data"]["generate_report"]["taskId"]
    assert out["data"]["generate_report"]["status"] == "completed"
    task = gql(SEED_000_QUERY % task_id, user=users["alice"], schema=settings_schema)["data"]["task"]
    assert task["id"] == task_id
    assert task["status"] == "completed"
    assert task["progress"] == 100
    assert task["result"]["ok"] is True
    assert task["error"] is None
    assert task["created_at"]
    assert task["completed_at"]
    assert TaskExecution.objects.get(pk=task_id).owner == users["alice"]


def test_snake_case_schema_offers_both_spellings(settings_schema) -> None:
    gschema = settings_schema.graphql_schema
    payload = gschema.get_type("TaskMutationPayload")
    assert {"task_id", "taskId", "status", "task"} <= set(payload.fields)
    subscription = gschema.subscription_type
    assert {"task_updated", "taskUpdated", "task_progress", "taskProgress", "my_task_updates", "myTaskUpdates"} <= set(
        subscription.fields
    )
    assert set(subscription.fields["taskUpdated"].args) == {"taskId"}
    assert set(subscription.fields["task_updated"].args) == {"task_id"}
    assert {"cancel_task", "retry_task", "generate_report"} <= set(gschema.mutation_type.fields)


def test_camel_case_schema_has_one_spelling() -> None:
    schema = build_schema(
        mutation_extensions=["tests.rail_tasks_graphql.example.graphql.TaskMutations"], auto_camelcase=True
    )
    gschema = schema.graphql_schema
    assert set(gschema.get_type("TaskMutationPayload").fields) == {"taskId", "status", "task"}
    assert set(gschema.subscription_type.fields) == {"taskUpdated", "taskProgress", "myTaskUpdates"}
    assert {"cancelTask", "retryTask", "generateReport"} <= set(gschema.mutation_type.fields)
    assert "progressMessage" in gschema.get_type("TaskExecution").fields


def test_plain_composition() -> None:
    class Query(TaskQueries, graphene.ObjectType):
        pass

    class Mutation(TaskControlMutations, graphene.ObjectType):
        pass

    class Subscription(TaskSubscriptions, graphene.ObjectType):
        pass

    schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
    assert {"task", "tasks"} == set(schema.graphql_schema.query_type.fields)


def test_extensions_must_be_object_types() -> None:
    with pytest.raises(TypeError, match=r"not a graphene\.ObjectType"):
        build_schema(mutation_extensions=["rail_tasks_graphql.types.JSON"])
