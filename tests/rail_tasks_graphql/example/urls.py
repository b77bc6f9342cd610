from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from rail_tasks_graphql.views import GraphQLView
from tests.urls import urlpatterns as base_urlpatterns

urlpatterns = [
    *base_urlpatterns,
    # Token/JWT clients send no session cookie; this example accepts session cookies without CSRF for brevity.
    path("graphql/", csrf_exempt(GraphQLView.as_view(graphiql=False))),
]
