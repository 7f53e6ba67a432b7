"""A small HTTP client for the CLI's commands that talk to a running daemon."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import httpx

from hookrunner.config import Settings

NO_DELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DaemonUnreachable(Exception):
    """Nothing answered at the configured address."""


class ApiError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status


def read_token(token_file: str | None) -> str:
    if token_file:
        return Path(token_file).read_text().strip()
    return os.environ.get("HOOKRUNNER_TOKEN", "")


class Client:
    def __init__(self, settings: Settings, token: str, timeout: float = 60) -> None:
        server = settings.server
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._socket = server.unix_socket
        if server.unix_socket:
            transport = httpx.HTTPTransport(uds=server.unix_socket)
            base = "http://hookrunner"
        else:
            host, port = server.host_port
            # Without TCP_NODELAY, a body written after its headers waits for a delayed ACK.
            transport = httpx.HTTPTransport(socket_options=[NO_DELAY])
            base = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        self._http = httpx.Client(
            base_url=base, transport=transport, headers=headers, timeout=timeout
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            address = self._socket or str(self._http.base_url).rstrip("/")
            raise DaemonUnreachable(f"{address}: {exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ApiError(response.status_code, str(detail))
        return response.json()
