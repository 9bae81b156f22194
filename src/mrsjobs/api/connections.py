"""Bounds on the server's connections, for the ``serve`` command: how many may be open,
how long one may take to send a request head, and enough file descriptors for them.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``) but waits for ever
for the first request of a new connection and for the rest of a request head, and
counts every connection against ``limit_concurrency``: a thousand sockets that connect
and say nothing would hold every descriptor and slot. Here a connection is closed if
its request head is not complete ``header_timeout_s`` after it connected (or after
the first byte of a later request), and one past ``max_connections`` is closed at once.
"""

from __future__ import annotations

import asyncio
import logging
import resource
from collections.abc import Callable

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

#: Descriptors kept for everything but client connections: the database, logs, the
#: supervisor's pipes and job records, the metastores' sockets.
RESERVED_FDS = 256


def raise_fd_limit() -> int:
    """Raise this process's soft limit of open files to its hard limit (a default soft
    limit of 1,024 is a thousand idle sockets away from refusing everybody); the
    limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-files limit from %s to %s: %s",
                        soft, target, exc)
    return soft


def connection_cap(max_connections: int, fd_limit: int) -> int:
    """``max_connections``, lowered to what the open-files limit leaves for clients."""
    room = max(16, fd_limit - RESERVED_FDS)
    if max_connections > room:
        log.warning("MRSJOBS_MAX_CONNECTIONS=%d does not fit in the open-files limit %d: "
                    "at most %d connections", max_connections, fd_limit, room)
        return room
    return max_connections


def bounded_protocol(max_connections: int, header_timeout_s: float,
                     on_shutdown: Callable[[], None] | None = None
                     ) -> type[HttpToolsProtocol]:
    """uvicorn's httptools protocol, with the connection cap and the head timeout;
    ``on_shutdown`` is called when the server starts to shut down (uvicorn waits for
    every response to end, so endless ones must be told)."""

    class BoundedHttpToolsProtocol(HttpToolsProtocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > max_connections:
                transport.abort()  # connection_lost follows, as for any other
                return
            self._arm_head_timer()

        def data_received(self, data: bytes) -> None:
            # The first bytes of a later request on a kept-alive connection: its head is
            # due within the timeout too.
            if self._head_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm_head_timer()
            super().data_received(data)

        def on_headers_complete(self) -> None:
            self._disarm_head_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_head_timer()
            super().connection_lost(exc)

        def shutdown(self) -> None:
            if on_shutdown is not None:
                on_shutdown()
            super().shutdown()

        def _arm_head_timer(self) -> None:
            if header_timeout_s > 0 and not self.transport.is_closing():
                self._head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)

        def _disarm_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if not self.transport.is_closing():
                self.transport.close()

    return BoundedHttpToolsProtocol
