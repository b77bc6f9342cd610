"""``path("api/v1/", include("rail_tasks.urls"))`` gives ``/api/v1/tasks/<uuid>/``."""

from django.urls import path

from rail_tasks import views

app_name = "rail_tasks"

urlpatterns = [
    path("tasks/<uuid:task_id>/", views.task_detail, name="task-detail"),
    path("tasks/<uuid:task_id>/cancel/", views.task_cancel, name="task-cancel"),
]
