"""System checks: Django-Q2 settings that would run rail-tasks executions twice, or lose them.

Run for every ``TASKS`` alias on :class:`~rail_tasks_djangoq.DjangoQBackend`
(Django calls ``backend.check()``), on each cluster that alias sends to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import apps
from django.core import checks

from rail_tasks_djangoq.clusters import REDELIVERING_BROKERS, broker_kind, cluster_config, declared

if TYPE_CHECKING:
    from rail_tasks_djangoq.backend import DjangoQBackend

__all__ = ["check_backend"]


def check_backend(backend: DjangoQBackend) -> list[checks.CheckMessage]:
    """The checks of one backend alias."""
    where = f"TASKS[{backend.alias!r}]"
    if not apps.is_installed("django_q"):
        return [
            checks.Error(
                f"{where} runs on Django-Q2, but 'django_q' is not in INSTALLED_APPS.",
                hint="Add 'django_q' to INSTALLED_APPS and run migrate (its tables hold schedules and the ORM queue).",
                id="rail_tasks_djangoq.E001",
            )
        ]
    errors: list[checks.CheckMessage] = []
    for cluster in sorted(backend.used_clusters()):
        errors += _check_cluster(backend, cluster, where)
    return errors


def _check_cluster(backend: DjangoQBackend, cluster: str, where: str) -> list[checks.CheckMessage]:
    config = cluster_config(cluster)
    kind = broker_kind(config)
    name = f"Q_CLUSTER of cluster {cluster!r} (used by {where})"
    errors: list[checks.CheckMessage] = []
    timeout, retry = config.get("timeout"), config.get("retry", 60)
    if kind in REDELIVERING_BROKERS and (timeout is None or timeout >= retry):
        errors.append(
            checks.Error(
                f"{name}: timeout={timeout} is not below retry={retry}, so the {kind} broker delivers a task "
                "again while it still runs: plain Django-Q2 tasks run twice, and rail executions wait on "
                "duplicate messages.",
                hint=f"Set 'timeout' below 'retry', e.g. 'timeout': {max(retry - 10, 1)}, or raise 'retry' "
                "above your longest task.",
                id="rail_tasks_djangoq.E002",
            )
        )
    if kind in REDELIVERING_BROKERS and not config.get("max_attempts", 0) and not config.get("ack_failures"):
        errors.append(
            checks.Error(
                f"{name}: max_attempts=0 (unlimited) without ack_failures, so a failing task is delivered "
                "again every retry seconds, forever.",
                hint="Set 'ack_failures': True (rail-tasks retries by its own rules), or a 'max_attempts'.",
                id="rail_tasks_djangoq.E003",
            )
        )
    if config.get("sync"):
        errors.append(
            checks.Warning(
                f"{name}: sync=True runs every task inside the process that enqueues it, not on the cluster.",
                hint="Use sync only in tests; rail-tasks' 'sync' backend does the same with less machinery.",
                id="rail_tasks_djangoq.W001",
            )
        )
    if kind not in REDELIVERING_BROKERS and config.get("scheduler") is False:
        errors.append(
            checks.Warning(
                f"{name}: scheduler=False on a {kind} broker, so executions with run_after (and retries with a "
                "delay) wait for the reaper's resubmit_after instead of running on time.",
                hint="Leave the scheduler on in the cluster that runs this queue.",
                id="rail_tasks_djangoq.W002",
            )
        )
    if not declared(cluster):
        errors.append(
            checks.Error(
                f"{where} sends to cluster {cluster!r}, which Q_CLUSTER['ALT_CLUSTERS'] does not declare: "
                "its messages would wait for a cluster nobody starts.",
                hint=f"Declare it, e.g. 'ALT_CLUSTERS': {{{cluster!r}: {{}}}}, and start it with "
                f"Q_CLUSTER_NAME={cluster} python manage.py qcluster (see docs/djangoq.md).",
                id="rail_tasks_djangoq.E004",
            )
        )
    return errors
