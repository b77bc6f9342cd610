"""graphene-django's ``GraphQLView`` with the cost limits of :mod:`rail_tasks_graphql.validation`.

::

    from rail_tasks_graphql.views import GraphQLView

    urlpatterns = [path("graphql/", GraphQLView.as_view())]

Documents over ``graphql_max_tokens`` are refused while parsing; the other limits
(depth, aliases, fields, operations, mutations) are validation rules run with
graphql-core's standard ones. Everything else is graphene-django's view.
"""

from __future__ import annotations

from typing import Any

from graphene_django.views import GraphQLView as GrapheneGraphQLView
from graphql import ExecutionResult, GraphQLError

from rail_tasks_graphql.validation import parse_document, validation_rules

__all__ = ["GraphQLView"]


class GraphQLView(GrapheneGraphQLView):  # type: ignore[misc]
    """A ``GraphQLView`` whose documents must stay within the task settings' GraphQL limits."""

    def execute_graphql_request(
        self,
        request: Any,
        data: Any,
        query: Any,
        variables: Any,
        operation_name: Any,
        show_graphiql: bool = False,
    ) -> Any:
        """Refuse oversized documents while parsing, then run graphene-django's request with the limit rules."""
        if query:
            try:
                parse_document(query)
            except GraphQLError as error:
                return ExecutionResult(data=None, errors=[error])
        self.validation_rules = validation_rules()
        return super().execute_graphql_request(request, data, query, variables, operation_name, show_graphiql)
