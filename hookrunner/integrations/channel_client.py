"""The hook side of the integration channel: one call to the daemon, standard library only.

This module imports nothing from hookrunner and runs on Python 3.9+, so the ``sym`` tree
in a hook process can load it as is. The daemon gives each run two environment variables:
the channel's Unix socket and the run's token. A request is one JSON line
``{"token", "integration", "function", "args"}``; the answer is one JSON line,
``{"ok": true, "value": …}`` or ``{"ok": false, "error": "<SDK exception>", "message",
"code"}`` (``code`` is the vendor's own, such as Slack's ``channel_not_found``).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from typing import Any

SOCKET_ENV = "HOOKRUNNER_INTEGRATIONS_SOCKET"
TOKEN_ENV = "HOOKRUNNER_INTEGRATIONS_TOKEN"  # noqa: S105 - a variable name, not a secret
MAX_LINE = 16 * 1024 * 1024


class ChannelError(Exception):
    """The daemon's answer was an error; ``error`` names the SDK exception to raise."""

    def __init__(self, error: str, message: str, code: str = "") -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.code = code


def call(
    integration: str,
    function: str,
    args: Mapping[str, Any] | None = None,
    timeout: float = 120.0,
) -> Any:
    """Ask the daemon to run ``integration.function(**args)`` for this run."""
    path = os.environ.get(SOCKET_ENV, "")
    token = os.environ.get(TOKEN_ENV, "")
    if not path or not token:
        raise ChannelError(
            "SymIntegrationError",
            f"integrations are not available to this run ({SOCKET_ENV} is not set)",
        )
    request = {"token": token, "integration": integration, "function": function}
    line = json.dumps({**request, "args": dict(args or {})}).encode() + b"\n"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(path)
            conn.sendall(line)
            answer = _read_line(conn)
    except OSError as exc:
        raise ChannelError(
            "SymIntegrationError", f"the integration channel failed ({exc.strerror or exc})"
        ) from None
    try:
        decoded = json.loads(answer)
    except ValueError:
        raise ChannelError("SymIntegrationError", "the daemon's answer was unreadable") from None
    if decoded.get("ok") is True:
        return decoded.get("value")
    raise ChannelError(
        str(decoded.get("error") or "SymIntegrationError"),
        str(decoded.get("message", "")),
        str(decoded.get("code", "")),
    )


def _read_line(conn: socket.socket) -> bytes:
    chunks = []
    size = 0
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("the daemon closed the channel")
        chunks.append(chunk)
        size += len(chunk)
        if chunk.endswith(b"\n"):
            return b"".join(chunks)
        if size > MAX_LINE:
            raise ConnectionError("the daemon's answer is too long")
