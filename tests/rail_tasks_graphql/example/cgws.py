"""The same task subscriptions on a channels-graphql-ws endpoint (only when that package is installed)."""

from __future__ import annotations

import channels_graphql_ws
import graphene

from rail_tasks_graphql.cgws import ChannelsGraphqlWsTaskSubscriptions

from .schema import Mutation, Query


class Subscription(ChannelsGraphqlWsTaskSubscriptions, graphene.ObjectType):
    pass


cgws_schema = graphene.Schema(query=Query, mutation=Mutation, subscription=Subscription)


class TasksGraphqlWsConsumer(channels_graphql_ws.GraphqlWsConsumer):
    schema = cgws_schema
