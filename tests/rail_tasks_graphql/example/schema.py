"""The example project's schema by plain graphene composition (camelCase, as in seed 001)."""

from __future__ import annotations

import graphene

from rail_tasks_graphql import TaskControlMutations, TaskQueries, TaskSubscriptions

from .graphql import TaskMutations


class Query(TaskQueries, graphene.ObjectType):
    hello = graphene.String(default_value="world")


class Mutation(TaskMutations, TaskControlMutations, graphene.ObjectType):
    pass


class Subscription(TaskSubscriptions, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
