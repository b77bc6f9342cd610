"""Waiting on the worker's pipes, child sentinels and sockets, with one ``poll`` set kept between waits.

``multiprocessing.connection.wait`` builds and fills a new selector on every
call; at hundreds of wake-ups a second that was a large share of the
supervisor's time. :class:`Waiter` keeps one ``select.poll`` object and
rebuilds it only when the set of file descriptors changes. ``poll`` takes
numbers, not kernel registrations, so a descriptor number reused by a new
pipe is watched correctly. Where ``poll`` is missing (Windows), it falls back
to ``multiprocessing.connection.wait``.
"""

from __future__ import annotations

import select
from multiprocessing.connection import wait as mp_wait
from typing import Any

__all__ = ["Waiter"]


def _fd(obj: Any) -> int:
    return obj if isinstance(obj, int) else int(obj.fileno())


class Waiter:
    """Block until one of a set of waitable objects is ready, or a timeout."""

    def __init__(self) -> None:
        self._fds: tuple[int, ...] = ()
        self._poll: Any = None
        #: Descriptors found ready by the last wait (``None``: unknown, look at everything).
        self.ready: set[int] | None = None

    def is_ready(self, *objects: Any) -> bool:
        """Whether the last wait found any of ``objects`` ready (``True`` when it cannot tell)."""
        return self.ready is None or any(_fd(obj) in self.ready for obj in objects)

    def wait(self, objects: list[Any], timeout: float) -> set[int] | None:
        """Wait up to ``timeout`` seconds; return the ready descriptors (``None``: unknown, check all).

        ``objects`` are integers (process sentinels) or objects with ``fileno()``.
        """
        self.ready = self._wait(objects, timeout)
        return self.ready

    def _wait(self, objects: list[Any], timeout: float) -> set[int] | None:
        if not hasattr(select, "poll"):
            mp_wait(objects, timeout)
            return None
        fds = tuple(_fd(obj) for obj in objects)
        if fds != self._fds or self._poll is None:
            poller = select.poll()
            for fd in fds:
                poller.register(fd, select.POLLIN)
            self._poll, self._fds = poller, fds
        events = self._poll.poll(max(0.0, timeout) * 1000)
        return {fd for fd, _ in events}
