"""An accept gate for the HTTP server: a bounded number of open connections, each of
which must send a complete request head within ``server.idle_timeout``.

Without it, idle connections (no authentication needed to open one) pile up until the
daemon runs out of file descriptors, and then nothing works: not intake, not hooks,
not the journal. With it, a flood costs the flooder: connections over the bound get a
``503`` and are closed at once, inside ``accept`` (so they never pile up as file
descriptors), and idle ones are closed after the timeout.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import socket
import time
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from hookrunner import metrics

_BUSY_BODY = (
    b'{"type":"about:blank","title":"Service Unavailable","status":503,'
    b'"detail":"too many open connections; try again"}'
)
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: %d\r\n\r\n%s"
) % (len(_BUSY_BODY), _BUSY_BODY)
# File descriptors kept free for everything but connections: the journal, git, logs,
# the listening sockets, and the pipes of each running hook.
FDS_RESERVED = 64
FDS_PER_RUN = 8
# Seconds between accepting a connection and the event loop making it; far more than it takes.
PENDING_AT_MOST = 1.0


def connection_budget(wanted: int, max_concurrency: int) -> int:
    """How many connections may be open at once, within the process's fd limit.

    The soft limit is raised to the hard one first (systemd's ``LimitNOFILE=`` sets both).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft == resource.RLIM_INFINITY:
        return wanted
    spare = soft - FDS_RESERVED - FDS_PER_RUN * max_concurrency
    return max(1, min(wanted, spare))


class ConnectionGate:
    """Counts the connections the server holds, including those accepted but not yet
    handed to a protocol, against ``limit``. Used only on the event loop's thread."""

    def __init__(self, limit: int, connections: Callable[[], int]) -> None:
        self.limit = limit
        self._connections = connections
        self._accepted: collections.deque[float] = collections.deque()

    def admit(self) -> bool:
        now = time.monotonic()
        while self._accepted and now - self._accepted[0] > PENDING_AT_MOST:
            self._accepted.popleft()  # the loop never made a connection of it
        if self._connections() + len(self._accepted) >= self.limit:
            return False
        self._accepted.append(now)
        return True

    def made(self) -> None:
        if self._accepted:
            self._accepted.popleft()

    def listener(self, sock: socket.socket) -> socket.socket:
        """``sock`` (listening) as a socket whose ``accept`` applies the gate."""
        gated = _GatedListener(sock.family, sock.type, sock.proto, fileno=sock.detach())
        gated.gate = self
        return gated


class _GatedListener(socket.socket):
    """A listening socket that turns connections over the bound away inside ``accept``:
    each gets a ``503`` and is closed at once, before the event loop holds its fd."""

    gate: ConnectionGate

    def accept(self) -> tuple[socket.socket, Any]:
        while True:  # ends when the kernel's queue is empty (BlockingIOError) or one fits
            connection, address = super().accept()
            if self.gate.admit():
                return connection, address
            metrics.CONNECTIONS_REFUSED.inc()
            with contextlib.suppress(OSError):
                connection.setblocking(False)
                connection.send(BUSY)
            connection.close()


def gated_protocol(gate: ConnectionGate, idle_timeout: float) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol that closes a connection idle before its first request;
    pass it as ``uvicorn.Config(http=...)``."""

    class GatedProtocol(H11Protocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            gate.made()
            super().connection_made(transport)  # type: ignore[arg-type]
            self._deadline = self.loop.call_later(idle_timeout, self._close_idle)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and self._deadline is not None:
                self._deadline.cancel()  # a request arrived; keep-alive has its own timeout
                self._deadline = None

        def connection_lost(self, exc: Exception | None) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _close_idle(self) -> None:
            metrics.CONNECTIONS_TIMED_OUT.inc()
            self.transport.close()

    return GatedProtocol
