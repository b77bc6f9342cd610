"""``database``: the ``TaskExecution`` table is the queue; ``rail_tasks_worker`` runs it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from django.db import DatabaseError, connections, router
from django.utils import timezone

from rail_tasks import statements
from rail_tasks.backends.base import RailBackend
from rail_tasks.conf import SETTING_SPECS, SettingSpec

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["DatabaseBackend"]

logger = logging.getLogger("rail_tasks")


class DatabaseBackend(RailBackend):
    """The embedded default: no broker, the row itself is the message.

    Run ``python manage.py rail_tasks_worker`` to execute tasks. On
    PostgreSQL, :meth:`submit` sends a ``NOTIFY`` so an idle worker claims the
    new row at once; elsewhere workers poll. ``OPTIONS`` may set the worker's
    ``poll_interval``, ``lease_seconds``, ``heartbeat_seconds`` and
    ``shutdown_grace_seconds`` for this alias (else the task settings apply).
    """

    supports_timeout = True
    supports_cancel_running = True
    option_specs: ClassVar[Mapping[str, SettingSpec]] = {
        name: SETTING_SPECS[name]
        for name in ("poll_interval", "lease_seconds", "heartbeat_seconds", "shutdown_grace_seconds")
    }

    def insert_execution(self, execution: TaskExecution, using: str) -> bool:
        """On PostgreSQL, ``INSERT`` and ``NOTIFY`` in one round trip when the row is due now.

        NOTIFY is transactional: workers hear it when the enqueue commits, never
        for a rolled-back one, as with :meth:`submit` on commit. Needs a driver
        that takes two statements in one call (psycopg's default client-side
        binding, psycopg2); with ``server_side_binding`` the NOTIFY follows on
        commit instead.
        """
        from rail_tasks.backends.database.notify import CHANNEL, NOTIFY_SQL

        connection = connections[using]
        due = execution.run_after is None or execution.run_after <= timezone.now()
        if (
            due
            and connection.vendor == "postgresql"
            and not connection.settings_dict["OPTIONS"].get("server_side_binding")
        ):
            payload = [CHANNEL, execution.queue]
            if statements.insert_execution(execution, using=using, then=NOTIFY_SQL, then_params=payload):
                return True
        return super().insert_execution(execution, using)

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> str:
        """The committed row is what workers claim; wake idle PostgreSQL workers when it is due now.

        The row is the message: its id is the message id.
        """
        if run_after is None or run_after <= timezone.now():
            self._notify(execution, execution.queue)  # else workers find it by polling once it is due
        return str(execution.pk)

    def cancel_running(self, execution: TaskExecution) -> None:
        """Tell the worker holding ``execution`` to end it now (it also checks on its own)."""
        from rail_tasks.backends.database.notify import CANCEL_PREFIX

        self._notify(execution, f"{CANCEL_PREFIX}{execution.pk}")

    @staticmethod
    def _notify(execution: TaskExecution, payload: str) -> None:
        from rail_tasks.backends.database.notify import send_notify

        try:
            send_notify(router.db_for_write(type(execution)), payload)
        except DatabaseError:
            # Only a wake-up call: workers still find the row at their next poll.
            logger.warning("NOTIFY for execution %s failed; workers will poll for it", execution.pk, exc_info=True)
