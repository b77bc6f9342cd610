"""``path("api/v1/", include("rail_tasks.urls"))`` gives ``/api/v1/tasks/<uuid>/``.

The id is matched as any path segment and parsed by the view, so an id that is not a UUID gets
the same JSON 404 as a missing one (not Django's HTML page).
"""

from django.urls import path

from rail_tasks import views

app_name = "rail_tasks"

urlpatterns = [
    path("tasks/<str:task_id>/", views.task_detail, name="task-detail"),
    path("tasks/<str:task_id>/cancel/", views.task_cancel, name="task-cancel"),
]
