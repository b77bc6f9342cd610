"""What ``Q_CLUSTER`` / ``ALT_CLUSTERS`` say about one Django-Q2 cluster, read from settings.

Django-Q2 computes its configuration once per process, for the cluster that
process belongs to (``Q_CLUSTER_NAME``). A web process sends to every
cluster, and a cluster's reaper resends to the others, so these helpers read
the settings directly: the main ``Q_CLUSTER`` merged with the named cluster's
``ALT_CLUSTERS`` entry, as ``qcluster`` of that cluster sees it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

__all__ = ["REDELIVERING_BROKERS", "broker_kind", "cluster_config", "declared", "default_cluster"]

#: Brokers that hold a message until the monitor acknowledges it and present it again after ``retry``.
REDELIVERING_BROKERS = frozenset({"orm", "sqs", "iron_mq", "mongo"})


def _main() -> dict[str, Any]:
    return dict(getattr(settings, "Q_CLUSTER", None) or {})


def default_cluster() -> str:
    """The main cluster's name (``Q_CLUSTER["cluster_name"]``, else ``["name"]``, else ``"default"``)."""
    main = _main()
    return str(main.get("cluster_name") or main.get("name") or "default")


def declared(name: str) -> bool:
    """Whether ``qcluster`` can run cluster ``name``: the main one, or an ``ALT_CLUSTERS`` entry."""
    return name == default_cluster() or name in (_main().get("ALT_CLUSTERS") or {})


def cluster_config(name: str) -> dict[str, Any]:
    """The settings ``qcluster`` of cluster ``name`` runs with (main settings + its ``ALT_CLUSTERS`` entry)."""
    config = _main()
    alternatives = config.pop("ALT_CLUSTERS", None) or {}
    if name != default_cluster() and isinstance(alternatives.get(name), dict):
        config.update({k: v for k, v in alternatives[name].items() if k not in {"name", "cluster_name"}})
    return config


def broker_kind(config: dict[str, Any]) -> str:
    """``"orm"``, ``"redis"``, ``"sqs"``, ``"iron_mq"``, ``"mongo"`` or ``"custom"``, chosen as Django-Q2 chooses."""
    if config.get("broker_class"):
        return "custom"
    for key in ("iron_mq", "sqs", "orm", "mongo"):
        if config.get(key) if key != "sqs" else isinstance(config.get(key), dict):
            return key
    return "redis"
