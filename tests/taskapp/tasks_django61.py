"""Tasks declared with Django's own ``@task`` and rail options (Django 6.1+ only: task_class)."""

from __future__ import annotations

from django.tasks import task

from .models import Ledger


@task(max_retries=2, retry_delay=0, timeout=30, track_progress=False)  # type: ignore[call-arg]
def django_flaky(fail_times: int) -> str:
    import rail_tasks

    handle = rail_tasks.current_task()
    assert handle is not None
    Ledger.objects.create(execution_id=handle.id, task="django_flaky", event="start", attempt=handle.attempt)
    if handle.attempt <= fail_times:
        raise RuntimeError(f"attempt {handle.attempt}")
    return "ok"
