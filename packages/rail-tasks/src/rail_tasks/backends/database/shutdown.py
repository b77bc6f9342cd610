"""SIGTERM/SIGINT for the worker: the first asks for a graceful stop, the second for a hard one.

Handlers only count signals and write to a wake-up socket, so the worker's
wait returns at once and the main loop acts on :attr:`ShutdownSignals.stage`.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from types import FrameType
from typing import Any

__all__ = ["ShutdownSignals"]

_HANDLED = (signal.SIGTERM, signal.SIGINT)


class ShutdownSignals:
    """Installs the handlers (main thread only) and remembers how many signals arrived.

    ``stage`` is 0 while running, 1 after the first signal (stop claiming,
    let running tasks finish), 2 after the second (hand running executions
    back and exit now).
    """

    def __init__(self) -> None:
        self.stage = 0
        self.last_signal: int | None = None
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._previous: dict[int, Any] = {}
        self._previous_wakeup_fd = -1

    def install(self) -> None:
        """Install the handlers and the wake-up fd."""
        for signum in _HANDLED:
            self._previous[signum] = signal.signal(signum, self._handle)
        self._previous_wakeup_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)

    def uninstall(self) -> None:
        """Restore the previous handlers."""
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.stage = min(self.stage + 1, 2)
        self.last_signal = signum

    def request(self, stage: int) -> None:
        """Ask for a stop from code (tests, ``--max-tasks``), as if signalled."""
        self.stage = max(self.stage, stage)
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def fileno(self) -> int:
        """The socket the worker waits on; readable after a signal."""
        return self._reader.fileno()

    def clear(self) -> None:
        """Empty the wake-up socket."""
        try:
            while self._reader.recv(512):
                pass
        except OSError:
            pass

    def close(self) -> None:
        """Close the sockets."""
        self._reader.close()
        self._writer.close()
