from django.contrib import admin
from django.urls import include, path
from graphene_django.views import GraphQLView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Session-cookie clients must send the CSRF token; token clients send no session cookie.
    path("graphql/", GraphQLView.as_view(graphiql=True)),
    path("api/v1/", include("rail_tasks.urls")),
]
