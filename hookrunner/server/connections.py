"""An accept gate for the HTTP server: a bounded number of open connections, each of
which must send a complete request head within ``server.idle_timeout``.

Without it, idle connections (no authentication needed to open one) pile up until the
daemon runs out of file descriptors, and then nothing works: not intake, not hooks,
not the journal. With it, a flood costs the flooder: connections over the bound get a
``503`` and are closed at once, idle ones are closed after the timeout.
"""

from __future__ import annotations

import asyncio
import resource
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


def connection_budget(wanted: int, max_concurrency: int, backlog: int) -> int:
    """How many connections may be open at once, within the process's fd limit.

    The soft limit is raised to the hard one first (systemd's ``LimitNOFILE=`` sets both).
    ``backlog`` connections may be accepted in one go before the gate sees them.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft == resource.RLIM_INFINITY:
        return wanted
    spare = soft - FDS_RESERVED - FDS_PER_RUN * max_concurrency - backlog
    return max(1, min(wanted, spare))


def gated_protocol(max_connections: int, idle_timeout: float) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with the gate; pass it as ``uvicorn.Config(http=...)``."""

    class GatedProtocol(H11Protocol):
        _refused = False
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            if len(self.connections) >= max_connections:
                self._refused = True
                metrics.CONNECTIONS_REFUSED.inc()
                assert isinstance(transport, asyncio.Transport)
                transport.write(BUSY)
                transport.close()
                return
            super().connection_made(transport)  # type: ignore[arg-type]
            self._deadline = self.loop.call_later(idle_timeout, self._close_idle)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is not None and self._deadline is not None:
                self._deadline.cancel()  # a request arrived; keep-alive has its own timeout
                self._deadline = None

        def connection_lost(self, exc: Exception | None) -> None:
            if self._refused:
                return
            if self._deadline is not None:
                self._deadline.cancel()
            super().connection_lost(exc)

        def _close_idle(self) -> None:
            metrics.CONNECTIONS_TIMED_OUT.inc()
            self.transport.close()

    return GatedProtocol


def uvicorn_settings(max_connections: int, idle_timeout: float, backlog: int) -> dict[str, Any]:
    """The ``uvicorn.Config`` keywords that bound connections and their idle time."""
    return {
        "http": gated_protocol(max_connections, idle_timeout),
        "timeout_keep_alive": idle_timeout,
        "backlog": backlog,
    }
