"""``DjangoQBackend``: rail-tasks executions carried by a Django-Q2 cluster.

Transport only: each message is ``async_task`` of one function,
:data:`rail_tasks_djangoq.worker.FUNCTION`, whose only arguments are the
execution id, a message id and numbers (lease, heartbeat, time limit, due
time), so no user data is pickled.
The worker hands the id to :func:`rail_tasks.engine.deliver`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import uuid4

from django.core import checks
from django.tasks import Task
from django.tasks.base import DEFAULT_TASK_QUEUE_NAME
from django.tasks.exceptions import InvalidTask
from django.utils import timezone
from django.utils.module_loading import import_string
from django_q.brokers import Broker, get_broker

from rail_tasks import task_settings
from rail_tasks.backend_options import OptionSpec
from rail_tasks.engine import BrokerBackend
from rail_tasks_djangoq.clusters import REDELIVERING_BROKERS, broker_kind, cluster_config, default_cluster
from rail_tasks_djangoq.worker import FUNCTION

if TYPE_CHECKING:
    from rail_tasks import TaskExecution

__all__ = ["DjangoQBackend"]


class _OrmRow:
    """Stands in for the ORM broker in ``async_task``: writes the message row, locked until it is due.

    Django-Q2 dequeues only rows whose lock has passed, so a delay is exact. The row is written
    through the cached broker's queryset: ``ORM.enqueue`` would close the caller's database
    connection first (``close_old_connections``), once per message.
    """

    def __init__(self, broker: Broker, delay: float) -> None:
        self.list_key = broker.list_key
        self._rows = broker.connection
        self._due = timezone.now() + timedelta(seconds=delay)

    def enqueue(self, package: str) -> Any:
        return self._rows.create(key=self.list_key, payload=package, lock=self._due).pk


class DjangoQBackend(BrokerBackend):
    """Django Tasks backend that runs rail-tasks executions on ``python manage.py qcluster``.

    ``OPTIONS`` (all optional), besides the kit's ``lease_seconds``,
    ``heartbeat_seconds``, ``reap_interval``, ``resubmit_after`` and
    ``time_limit_grace`` (seconds between a task's ``timeout`` and Django-Q2's):

    * ``clusters``: ``{queue name: cluster name}``; the default queue goes to
      the main cluster of ``Q_CLUSTER``, any other queue to the cluster of
      the same name (an ``ALT_CLUSTERS`` entry);
    * ``broker``: dotted path of a callable ``(cluster name) -> Broker``, for
      clusters on another broker than this process's ``Q_CLUSTER`` (default
      ``django_q.brokers.get_broker``).
    """

    supports_priority = False  # Django-Q2 has no priorities: Django rejects a priority instead of ignoring it
    #: The ``OPTIONS`` accepted (the core's checks report unknown keys with the closest one, and wrong types).
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        **BrokerBackend.option_specs,
        "clusters": OptionSpec("clusters", (dict,), {}, "{queue name: Django-Q2 cluster name}."),
        "broker": OptionSpec("broker", (str,), "", "Dotted path of a callable (cluster name) -> Django-Q2 broker."),
    }

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.clusters: dict[str, str] = dict(self.options.get("clusters") or {})
        self.broker_factory: str | None = self.options.get("broker")
        self._brokers: dict[tuple[int, str], Broker] = {}

    # -- mapping ------------------------------------------------------------------

    def cluster_for(self, queue: str) -> str:
        """The Django-Q2 cluster that runs ``queue``."""
        if queue in self.clusters:
            return self.clusters[queue]
        if queue in {DEFAULT_TASK_QUEUE_NAME, task_settings.default_queue}:
            return self.clusters.get(DEFAULT_TASK_QUEUE_NAME) or default_cluster()
        return queue

    def used_clusters(self) -> set[str]:
        """Every cluster this backend may send to (the default one, mapped and allowed queues)."""
        return {self.cluster_for(q) for q in {DEFAULT_TASK_QUEUE_NAME, *self.clusters, *self.queues}}

    def broker(self, cluster: str) -> Broker:
        """The Django-Q2 broker of ``cluster`` (one per process and cluster)."""
        key = (os.getpid(), cluster)
        if key not in self._brokers:
            factory = import_string(self.broker_factory) if self.broker_factory else get_broker
            self._brokers[key] = factory(cluster)
        return self._brokers[key]

    def time_limit(self, timeout: float | None) -> int | None:
        """Django-Q2's whole-second timeout for a task's ``timeout``: after the kit's, by ``time_limit_grace``."""
        return math.ceil(timeout + self.time_limit_grace) if timeout else None

    # -- transport ------------------------------------------------------------------

    def send(self, execution: TaskExecution, *, delay: float) -> str:
        """``async_task`` "run execution <id>" on the queue's cluster, ``delay`` seconds from now."""
        from django_q.brokers.orm import ORM  # imports Django-Q2's models: only once apps are ready
        from django_q.tasks import async_task

        message_id = uuid4().hex
        cluster = self.cluster_for(execution.queue)
        limit = self.time_limit(execution.timeout)
        due = time.time() + delay
        args = (str(execution.pk), message_id, self.lease_seconds, self.heartbeat_seconds, limit, due)
        # Django-Q2 keeps no result row of a success and never redelivers a failure: the core has both.
        options: dict[str, Any] = {"task_name": message_id, "save": False, "cached": False, "ack_failure": True}
        if limit is not None:
            options["timeout"] = limit
        broker: Any = self.broker(cluster)
        if isinstance(broker, ORM):
            broker = _OrmRow(broker, delay)
        elif delay > 0:
            self._schedule(cluster, args, options, delay)
            return message_id
        async_task(FUNCTION, *args, q_options={**options, "cluster": cluster, "broker": broker})
        return message_id

    @staticmethod
    def _schedule(cluster: str, args: tuple[Any, ...], options: dict[str, Any], delay: float) -> None:
        """A one-off Django-Q2 schedule: the cluster's scheduler sends it (it looks every 30 seconds)."""
        from django_q.models import Schedule

        Schedule.objects.create(
            func=FUNCTION,
            args=repr(args),
            kwargs=repr({"q_options": options}),
            schedule_type=Schedule.ONCE,
            repeats=-1,
            next_run=timezone.now() + timedelta(seconds=delay),
            cluster=cluster,
        )

    # -- validation and checks ----------------------------------------------------------

    def validate_task(self, task: Task[..., Any]) -> None:
        """Rail's checks, and a timeout the cluster can enforce before it redelivers the message."""
        super().validate_task(task)
        timeout = getattr(task, "timeout", None)
        limit = self.time_limit(timeout)
        if limit is None:
            return
        cluster = self.cluster_for(task.queue_name)
        config = cluster_config(cluster)
        retry = config.get("retry", 60)
        if broker_kind(config) in REDELIVERING_BROKERS and limit >= retry:
            raise InvalidTask(
                f"timeout {timeout}s + time_limit_grace {self.time_limit_grace:g}s reaches cluster "
                f"{cluster!r}'s retry={retry}s: the message would be delivered again while the task runs. "
                "Use a shorter timeout or raise Q_CLUSTER['retry']."
            )

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        """Django-Q2 settings that would duplicate or lose work (docs/djangoq.md); ``OPTIONS`` are the core's."""
        from rail_tasks_djangoq.checks import check_backend

        return [*super().check(**kwargs), *check_backend(self)]
