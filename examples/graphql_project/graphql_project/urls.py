from django.contrib import admin
from django.urls import include, path

from rail_tasks_graphql.views import GraphQLView  # graphene-django's view with the GraphQL cost limits

urlpatterns = [
    path("admin/", admin.site.urls),
    # Cookie clients must send the CSRF token; token clients send no cookie.
    path("graphql/", GraphQLView.as_view(graphiql=True)),
    path("api/v1/", include("rail_tasks.urls")),
]
