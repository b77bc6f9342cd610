"""``DramatiqBackend``: rail-tasks executions carried by Dramatiq.

Transport only: each submit enqueues one message of the actor
:data:`rail_tasks_dramatiq.ACTOR_NAME` whose only argument is the execution id
(plus its lease); the worker hands it to :func:`rail_tasks.engine.deliver`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.core import checks
from django.utils import timezone
from dramatiq import Broker, Message

from rail_tasks.backend_options import OptionSpec
from rail_tasks.engine import BrokerBackend, scale_priority
from rail_tasks_dramatiq.actor import ACTOR_NAME
from rail_tasks_dramatiq.broker import RABBITMQ_SAFE_DELAY, broker_kind, resolve_broker

if TYPE_CHECKING:
    from rail_tasks import TaskExecution

__all__ = ["DramatiqBackend"]


class DramatiqBackend(BrokerBackend):
    """Django Tasks backend that runs rail-tasks executions on the user's Dramatiq workers.

    ``OPTIONS`` (all optional), besides :class:`~rail_tasks.engine.BrokerBackend`'s:

    * ``dramatiq_broker``: dotted path to a Dramatiq ``Broker`` (or a function
      returning one), or a ``redis://`` / ``amqp://`` URL; default: the broker
      django_dramatiq builds from ``DRAMATIQ_BROKER``;
    * ``queue_prefix``: prepended to every queue name (default ``""``);
    * ``max_delay``: longest delay in seconds one message carries; longer ones
      travel as several hops (default: none on Redis, 900 on RabbitMQ, whose
      ``consumer_timeout`` closes a channel holding a message too long).
    """

    option_specs: ClassVar[Mapping[str, OptionSpec]] = {
        **BrokerBackend.option_specs,
        "dramatiq_broker": OptionSpec(
            "dramatiq_broker", (str, type(None)), None, "Dotted path to a Dramatiq Broker, or a redis:// / amqp:// URL."
        ),
        "queue_prefix": OptionSpec("queue_prefix", (str,), "", "Prepended to every Dramatiq queue name."),
        "max_delay": OptionSpec(
            "max_delay", (int, float, type(None)), None, "Longest delay (s) of one message; longer ones hop."
        ),
    }

    def __init__(self, alias: str, params: dict[str, Any]) -> None:
        super().__init__(alias, params)
        self.broker_source: str | None = self.options.get("dramatiq_broker")
        self.queue_prefix = str(self.options.get("queue_prefix", ""))
        max_delay = self.options.get("max_delay")
        self._max_delay = float(max_delay) if max_delay is not None else None

    @cached_property
    def broker(self) -> Broker:
        """The Dramatiq broker messages are sent through."""
        return resolve_broker(self.broker_source)

    @cached_property
    def max_delay(self) -> float | None:
        """Longest delay (s) of one message, or ``None`` for no limit."""
        if self._max_delay is not None:
            return self._max_delay
        return RABBITMQ_SAFE_DELAY if broker_kind(self.broker) == "rabbitmq" else None

    def dramatiq_queue(self, queue: str) -> str:
        """The Dramatiq queue of a rail queue name."""
        return f"{self.queue_prefix}{queue}"

    def message(self, execution: TaskExecution, delay: float) -> tuple[Message[Any], int | None]:
        """The Dramatiq message of one submit of ``execution`` and its delay in ms (``None``: at once)."""
        kwargs: dict[str, Any] = {"lease": self.lease_seconds, "beat": self.heartbeat_seconds}
        if self.max_delay is not None and delay > self.max_delay:
            kwargs["not_before"] = (timezone.now() + timedelta(seconds=delay)).isoformat()
            delay = self.max_delay
        options: dict[str, Any] = {}
        max_priority = getattr(self.broker, "max_priority", None)
        if max_priority:
            options["broker_priority"] = scale_priority(execution.priority, max_priority + 1)
        message: Message[Any] = Message(
            queue_name=self.dramatiq_queue(execution.queue),
            actor_name=ACTOR_NAME,
            args=(str(execution.pk),),
            kwargs=kwargs,
            options=options,
        )
        return message, (round(delay * 1000) if delay > 0 else None)

    def send(self, execution: TaskExecution, *, delay: float) -> str:
        """Enqueue "run execution <id>" on the broker; returns the Dramatiq message id."""
        message, delay_ms = self.message(execution, delay)
        return self.broker.enqueue(message, delay=delay_ms).message_id

    # -- checks -----------------------------------------------------------------------

    def check(self, **kwargs: Any) -> list[Any]:
        """A broker that cannot be loaded or reached, queues workers would not consume, foreign retries.

        Unknown or mistyped ``OPTIONS`` are the core's checks (``option_specs``).
        """
        errors: list[Any] = list(super().check(**kwargs))
        if self._max_delay is not None and self._max_delay <= 0:
            errors.append(
                checks.Error(
                    f"TASKS[{self.alias!r}]['OPTIONS']['max_delay'] must be a positive number of seconds, "
                    f"got {self._max_delay:g}.",
                    hint="Leave it unset for the broker's default (none on Redis, 900 s on RabbitMQ).",
                    id="rail_tasks_dramatiq.E001",
                )
            )
        try:
            broker = self.broker
        except Exception as exc:
            errors.append(
                checks.Error(
                    f"The Dramatiq broker of TASKS[{self.alias!r}] cannot be loaded: {exc}",
                    id="rail_tasks_dramatiq.E002",
                )
            )
            return errors
        errors.extend(self._check_broker(broker))
        if not self.queues:
            errors.append(
                checks.Warning(
                    f"TASKS[{self.alias!r}] accepts any queue name, but a Dramatiq worker consumes only the queues "
                    "it declares: tasks sent to other queues wait forever.",
                    hint=f"List the queue names in TASKS[{self.alias!r}]['QUEUES'].",
                    id="rail_tasks_dramatiq.W002",
                )
            )
        return errors

    def _check_broker(self, broker: Broker) -> list[Any]:
        errors: list[Any] = []
        try:
            if broker_kind(broker) == "redis":
                broker.client.ping()  # type: ignore[attr-defined]
            elif broker_kind(broker) == "rabbitmq":
                broker.connection  # type: ignore[attr-defined]  # noqa: B018 - connects
        except Exception as exc:
            errors.append(
                checks.Warning(
                    f"The Dramatiq broker of TASKS[{self.alias!r}] is unreachable: {type(exc).__name__}: {exc}",
                    hint="Executions are recorded and sent again once it is back (the worker's reaper).",
                    id="rail_tasks_dramatiq.W001",
                )
            )
        for middleware in broker.middleware:
            kind = type(middleware)
            if "retr" in kind.__name__.lower() and kind.__module__ != "dramatiq.middleware.retries":
                errors.append(
                    checks.Warning(
                        f"{kind.__name__} on the Dramatiq broker of TASKS[{self.alias!r}] may retry "
                        f"{ACTOR_NAME!r}; rail-tasks retries executions itself (max_retries), so a failure could run "
                        "twice as often as configured.",
                        hint="Make it skip the actor, as dramatiq's Retries does for max_retries=0 / retry_when.",
                        id="rail_tasks_dramatiq.W003",
                    )
                )
        return errors
