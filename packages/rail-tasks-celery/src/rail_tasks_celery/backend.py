"""``CeleryBackend``: rail-tasks executions carried by Celery.

Transport only: each submit sends one message, "run execution <id>", to the
generic task :data:`rail_tasks_celery.TASK_NAME`; the worker hands the id to
the engine kit's :func:`rail_tasks.engine.deliver`, which owns the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID, uuid4

from celery import Celery
from django.core import checks
from django.tasks.base import DEFAULT_TASK_QUEUE_NAME
from django.utils import timezone
from kombu.exceptions import OperationalError

from rail_tasks import docs_url, task_settings
from rail_tasks.backend_options import OptionSpec, setting_option
from rail_tasks.engine import BrokerBackend
from rail_tasks_celery.broker import BrokerInfo, resolve_app
from rail_tasks_celery.worker import CANCEL_SIGNAL, TASK_NAME, celery_task_id_of

if TYPE_CHECKING:
    from rail_tasks import TaskExecution

__all__ = ["CeleryBackend"]

logger = logging.getLogger("rail_tasks.celery")


class CeleryBackend(BrokerBackend):
    """Django Tasks backend that runs rail-tasks executions on the user's Celery workers.

    ``OPTIONS`` (all optional), besides the engine kit's (``lease_seconds``,
    ``heartbeat_seconds``, ``reap_interval``, ``resubmit_after``,
    ``time_limit_grace``: see :class:`rail_tasks.engine.BrokerBackend`):

    * ``celery_app``: dotted path of the Celery app (default: the ``celery_app``
      task setting, else Celery's current app);
    * ``queue_prefix``: prepended to every queue name except the default one,
      which maps to the app's ``task_default_queue``.

    A task's ``timeout`` is enforced by the kit's heartbeat in the pool child;
    Celery's hard ``time_limit`` (``timeout + time_limit_grace``) is the backstop.
    """

    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        **BrokerBackend.option_specs,
        "celery_app": setting_option("celery_app"),
        "queue_prefix": OptionSpec("queue_prefix", (str,), "", "Prepended to every non-default queue name."),
    }

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.celery_app_path: str | None = self.options.get("celery_app", task_settings.celery_app)
        self.queue_prefix = str(self.options.get("queue_prefix", ""))

    @cached_property
    def app(self) -> Celery:
        """The Celery app messages are sent through."""
        return resolve_app(self.celery_app_path)

    @cached_property
    def broker(self) -> BrokerInfo:
        """Facts about the app's broker (transport, visibility timeout, priority scale)."""
        return BrokerInfo(self.app)

    def celery_queue(self, queue: str) -> str | None:
        """The Celery queue for a rail queue; ``None`` (the app's routing) for the default queue."""
        if queue in {DEFAULT_TASK_QUEUE_NAME, task_settings.default_queue}:
            return None
        return f"{self.queue_prefix}{queue}"

    def message(self, execution: TaskExecution, delay: float = 0.0) -> dict[str, Any]:
        """The ``send_task`` arguments for one message of ``execution``, due in ``delay`` seconds."""
        kwargs: dict[str, Any] = {"lease_seconds": self.lease_seconds, "heartbeat_seconds": self.heartbeat_seconds}
        options: dict[str, Any] = {
            "args": [str(execution.pk)],
            "kwargs": kwargs,
            "task_id": str(uuid4()),
            "serializer": "json",
            "ignore_result": True,
            "priority": self.broker.priority(execution.priority),
        }
        queue = self.celery_queue(execution.queue)
        if queue is not None:
            options["queue"] = queue
        if execution.timeout:
            options["time_limit"] = float(execution.timeout) + self.time_limit_grace
        longest = self.broker.max_countdown
        if longest is not None and delay > longest:
            # Held past the visibility timeout, Redis would deliver it again and again: hop instead.
            options["countdown"] = longest
            kwargs["not_before"] = (timezone.now() + timedelta(seconds=delay)).isoformat()
        elif delay > 0:
            options["countdown"] = delay
        return options

    def send(self, execution: TaskExecution, *, delay: float) -> str:
        """Send "run execution <id>" to Celery; the Celery task id is the message id."""
        options = self.message(execution, delay)
        self.app.send_task(TASK_NAME, **options)
        return str(options["task_id"])

    def cancel_running(self, execution: TaskExecution) -> None:
        """Revoke the running delivery; its pool child stops the task with :class:`rail_tasks.TaskCancelled`."""
        task_id = celery_task_id_of(execution.worker_id or "")
        try:
            UUID(task_id)
        except ValueError:
            return  # not claimed by a Celery delivery: the heartbeat stops it
        try:
            self.app.control.revoke(task_id, terminate=True, signal=CANCEL_SIGNAL)
        except (OperationalError, OSError) as exc:
            logger.warning("rail-tasks-celery could not revoke %s: %s; the heartbeat stops it instead", task_id, exc)

    def _check_transport(self) -> list[Any]:
        """An error when the broker's kombu transport (or the client library it needs) does not import."""
        conf = self.app.conf
        url = str(conf.broker_write_url or conf.broker_url or "amqp://")
        scheme = url.split("://", 1)[0].split("+")[0] or "amqp"
        try:
            connection = self.app.connection_for_write()
            try:
                connection.transport  # noqa: B018 - imports the transport and its client library; does not connect
            finally:
                connection.release()
        except Exception as exc:
            if scheme in {"redis", "rediss", "sentinel"}:
                hint = 'pip install "rail-tasks-celery[redis]" (Celery\'s Redis transport needs redis and packaging).'
            else:
                hint = f'Install the client library of the {scheme!r} transport, e.g. pip install "celery[{scheme}]".'
            return [
                checks.Error(
                    f"The broker transport {scheme!r} of the Celery app of TASKS[{self.alias!r}] cannot be loaded: "
                    f"{type(exc).__name__}: {exc}",
                    hint=hint,
                    id="rail_tasks_celery.E003",
                )
            ]
        return []

    def check(self, **kwargs: Any) -> list[Any]:
        """Errors when the Celery app cannot load its broker transport or read the JSON messages this backend sends."""
        errors: list[Any] = []
        try:
            accepted = set(self.app.conf.accept_content or ())
        except Exception as exc:
            return [
                checks.Error(
                    f"Celery app for TASKS[{self.alias!r}] cannot be loaded: {exc}", id="rail_tasks_celery.E001"
                )
            ]
        errors.extend(self._check_transport())
        if not self.app.conf.get("db_reuse_max"):
            errors.append(
                checks.Warning(
                    f"The Celery app of TASKS[{self.alias!r}] closes Django's database connections around every "
                    "task, so each rail-tasks execution opens a new database connection (several milliseconds).",
                    hint="Set CELERY_DB_REUSE_MAX (e.g. 1000) and DATABASES[...]['CONN_MAX_AGE'] to keep "
                    "connections between tasks; see "
                    f"{docs_url('celery', 'database-connections-keep-them-between-tasks')}",
                    id="rail_tasks_celery.W001",
                )
            )
        if accepted and not accepted & {"json", "application/json"}:
            errors.append(
                checks.Error(
                    f"The Celery app of TASKS[{self.alias!r}] does not accept JSON messages "
                    f"(accept_content={sorted(accepted)}).",
                    hint="Add 'json' to CELERY_ACCEPT_CONTENT.",
                    id="rail_tasks_celery.E002",
                )
            )
        return errors
