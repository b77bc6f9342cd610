"""Execution statuses (the seeds' names) and their mapping onto Django's."""

from __future__ import annotations

from django.db import models
from django.tasks import TaskResultStatus
from django.utils.translation import gettext_lazy as _

__all__ = ["ACTIVE_STATUSES", "FINISHED_STATUSES", "READY_STATUSES", "Status", "to_django_status"]


class Status(models.TextChoices):
    """Where an execution is in its lifecycle."""

    PENDING = "pending", _("Pending")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    RETRYING = "retrying", _("Retrying")


#: Statuses a worker may claim.
READY_STATUSES = (Status.PENDING, Status.RETRYING)
#: Statuses that end an execution.
FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
#: Statuses that are not finished yet.
ACTIVE_STATUSES = (Status.PENDING, Status.RUNNING, Status.RETRYING)

_TO_DJANGO = {
    Status.PENDING: TaskResultStatus.READY,
    Status.RETRYING: TaskResultStatus.READY,
    Status.RUNNING: TaskResultStatus.RUNNING,
    Status.COMPLETED: TaskResultStatus.SUCCESSFUL,
    Status.FAILED: TaskResultStatus.FAILED,
    Status.CANCELLED: TaskResultStatus.FAILED,
}


def to_django_status(status: str) -> TaskResultStatus:
    """Map a rail status onto Django's ``TaskResultStatus``.

    ``retrying`` reads as ``READY`` (it will run again) and ``cancelled`` as
    ``FAILED`` (Django has no word for it; the error names ``TaskCancelled``).
    """
    return _TO_DJANGO[Status(status)]
