from django.apps import AppConfig


class ExampleConfig(AppConfig):
    """The example project's app: its ``graphql`` module holds the seeds' task mutations."""

    name = "tests.rail_tasks_graphql.example"
    label = "rail_tasks_graphql_example"
