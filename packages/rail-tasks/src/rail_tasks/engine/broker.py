"""``BrokerBackend``: the base class of every backend whose engine carries messages through a broker.

A subclass implements :meth:`BrokerBackend.send` (hand "run execution <id>"
to the engine with its delay, queue, priority and time limit) and, when the
engine can stop a running task itself, :meth:`~rail_tasks.RailBackend.cancel_running`.
Everything else is declared here once:

* the options every broker engine reads (``lease_seconds``,
  ``heartbeat_seconds``, ``reap_interval``, ``resubmit_after``,
  ``time_limit_grace``), with the task settings as defaults;
* ``supports_*``: defer, priority, timeout (the kit's hard timeout) and
  cancelling a running task (the kit's heartbeat and interrupts);
* submit on commit (from :class:`~rail_tasks.RailBackend`), and a failure to
  reach the broker logged, never raised after the row was committed: the
  reaper sends the message again;
* priorities scaled onto the broker's range (:func:`scale_priority`).
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from django.utils import timezone

from rail_tasks.backend_options import OptionSpec, setting_option
from rail_tasks.backends.base import RailBackend
from rail_tasks.conf import SETTING_SPECS, task_settings

if TYPE_CHECKING:
    from rail_tasks.models import TaskExecution

__all__ = ["BrokerBackend", "scale_priority"]

logger = logging.getLogger("rail_tasks.engine")

_NUMBER = (int, float)


def scale_priority(priority: int, levels: int, *, higher_first: bool = True) -> int:
    """Map a Django priority (-100..100, higher runs first) onto a broker's ``0..levels-1``.

    :param higher_first: whether the broker serves higher numbers first
        (RabbitMQ, Dramatiq's RabbitMQ priorities); ``False`` for brokers that
        serve lower numbers first (Celery on Redis, Dramatiq's priority field).
    """
    top = levels - 1
    level = round((max(-100, min(100, priority)) + 100) * top / 200)
    return level if higher_first else top - level


class BrokerBackend(RailBackend):
    """Base of broker engine backends (Celery, Dramatiq, Django-Q2); transport only in subclasses.

    ``OPTIONS`` read here (all optional):

    * ``lease_seconds`` / ``heartbeat_seconds``: lease of a running attempt and
      how often its worker renews it (default: the task settings of the same names);
    * ``reap_interval``: seconds between two passes of the worker's reaper (default 30);
    * ``resubmit_after``: seconds an execution may stay due but unstarted
      before its message is sent again (default 300);
    * ``time_limit_grace``: seconds between the timeout and the engine's own
      hard kill, where the engine has one (default 5).
    """

    supports_defer = True
    supports_priority = True
    supports_async_task = True
    supports_get_result = True
    supports_timeout: ClassVar[bool] = True
    supports_cancel_running: ClassVar[bool] = True

    #: The kit's options (subclasses add their own: ``{**BrokerBackend.option_specs, ...}``).
    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        "lease_seconds": setting_option("lease_seconds"),
        "heartbeat_seconds": setting_option("heartbeat_seconds"),
        "reap_interval": OptionSpec(
            "reap_interval", _NUMBER, 30.0, "Seconds between two passes of the worker's reaper."
        ),
        "resubmit_after": OptionSpec(
            "resubmit_after", _NUMBER, 300.0, "Seconds a due execution may wait unstarted before it is resent."
        ),
        "time_limit_grace": OptionSpec(
            "time_limit_grace", _NUMBER, 5.0, "Seconds from the timeout to the engine's own hard kill."
        ),
    }

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.lease_seconds = self._number("lease_seconds")
        self.heartbeat_seconds = self._number("heartbeat_seconds")
        self.reap_interval = self._number("reap_interval")
        self.resubmit_after = self._number("resubmit_after")
        self.time_limit_grace = self._number("time_limit_grace")

    def _number(self, name: str) -> float:
        """An option's value, else the task setting of that name, else the option's default."""
        if name in self.options:
            return float(self.options[name])
        if name in SETTING_SPECS:
            return float(getattr(task_settings, name))
        return float(self.option_specs[name].default)

    # -- transport ----------------------------------------------------------------

    @abstractmethod
    def send(self, execution: TaskExecution, *, delay: float) -> str:
        """Send "run execution <id>" to the engine, ``delay`` seconds from now (0: at once).

        ``execution.queue``, ``priority`` and ``timeout`` say where and how.
        Returns the engine's message id. Raise on failure: :meth:`submit`
        logs it and the reaper sends the message again.
        """

    def submit(self, execution: TaskExecution, *, run_after: datetime | None = None) -> str | None:
        """Hand the message to the broker; a failure is logged, never raised (the row is committed)."""
        delay = max((run_after - timezone.now()).total_seconds(), 0.0) if run_after is not None else 0.0
        try:
            return self.send(execution, delay=delay)
        except Exception as exc:
            logger.error(
                "%s could not send execution %s (%s) to its broker: %s: %s; the reaper sends it again within %.0fs",
                type(self).__name__,
                execution.pk,
                execution.name,
                type(exc).__name__,
                exc,
                self.resubmit_after,
            )
            return None
