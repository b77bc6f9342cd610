"""The schema: the seeds' task mutations plus the task queries, cancel/retry and subscriptions."""

import graphene
from reports.graphql import TaskMutations

from rail_tasks_graphql import TaskControlMutations, TaskQueries, TaskSubscriptions


class Query(TaskQueries, graphene.ObjectType):
    pass


class Mutation(TaskMutations, TaskControlMutations, graphene.ObjectType):
    pass


class Subscription(TaskSubscriptions, graphene.ObjectType):
    pass


schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)
