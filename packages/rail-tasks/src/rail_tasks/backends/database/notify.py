"""PostgreSQL LISTEN/NOTIFY: new work and cancel requests reach idle workers at once.

The backend sends ``NOTIFY rail_tasks, '<queue>'`` with the ``INSERT`` of a new
row (one round trip; PostgreSQL delivers it when that transaction commits) and
after a retry is scheduled; workers ``LISTEN`` on a connection of their own and
claim as soon as a notification arrives. Notifications only wake workers up:
losing one (a dropped connection) costs at most one poll interval, never a task.
Other databases have no NOTIFY; their workers poll.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections

__all__ = ["CANCEL_PREFIX", "CHANNEL", "NOTIFY_SQL", "Listener", "send_notify"]

logger = logging.getLogger("rail_tasks.worker")

#: The PostgreSQL channel every database worker listens on.
CHANNEL = "rail_tasks"
#: Payload prefix of a cancel request (``cancel:<execution id>``); other payloads are queue names.
CANCEL_PREFIX = "cancel:"
#: The statement that notifies: parameters channel and payload (at most 7,000 bytes).
NOTIFY_SQL = "SELECT pg_notify(%s, %s)"


def send_notify(using: str, payload: str) -> None:
    """Send ``payload`` to listening workers (PostgreSQL only; a no-op elsewhere).

    Delivered when the current transaction commits (at once in autocommit).
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(NOTIFY_SQL, [CHANNEL, payload[:7000]])


class Listener:
    """A dedicated PostgreSQL connection that ``LISTEN``\\ s on :data:`CHANNEL`.

    ``fileno()`` lets the worker wait on it with its pipes; :meth:`drain`
    returns the payloads received so far. Errors close the connection;
    :meth:`connect` opens a new one.
    """

    def __init__(self, using: str) -> None:
        self.using = using
        self._wrapper: Any = None

    @property
    def supported(self) -> bool:
        """Whether the database can ``LISTEN`` (PostgreSQL)."""
        return bool(connections[self.using].vendor == "postgresql")

    @property
    def connected(self) -> bool:
        """Whether a listening connection is open."""
        return self._wrapper is not None and self._wrapper.connection is not None

    def connect(self) -> None:
        """Open a new connection and ``LISTEN`` on it (raises the driver's error on failure)."""
        self.close()
        wrapper = connections.create_connection(self.using)
        wrapper.ensure_connection()
        wrapper.set_autocommit(True)
        wrapper.connection.execute(f"LISTEN {CHANNEL}")
        self._wrapper = wrapper

    def fileno(self) -> int:
        """The socket to wait on."""
        return int(self._wrapper.connection.fileno())

    def drain(self) -> list[str]:
        """Payloads received since the last call; closes the connection if it broke.

        Reads only what the socket holds (never blocks). A terminated
        connection first delivers the server's error, then end-of-file, which
        raises here and closes the listener.
        """
        if not self.connected:
            return []
        pgconn = self._wrapper.connection.pgconn
        try:
            pgconn.consume_input()
        except Exception:
            logger.warning("LISTEN connection lost; the worker polls until it is back", exc_info=True)
            self.close()
            return []
        payloads = []
        while (notify := pgconn.notifies()) is not None:
            payloads.append(notify.extra.decode())
        return payloads

    def close(self) -> None:
        """Close the listening connection (errors ignored: it may be dead already)."""
        wrapper, self._wrapper = self._wrapper, None
        if wrapper is not None:
            try:
                wrapper.close()
            except Exception:
                logger.debug("Closing the LISTEN connection failed", exc_info=True)
