"""The daemon side of the integration channel: hooks call integrations without credentials.

One Unix socket serves every run. Each run gets its own random token (``open_run``),
valid until ``close_run``; a request carrying any other token is refused, so one run
cannot act through another's channel, and a finished run's token is worth nothing. The
socket is ``0666``: the token, not the file mode, decides who may call, which lets a hook
running as another account, or inside a sandbox the socket is bound into, reach it.
The wire format is in ``channel_client``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socketserver
import stat
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from hookrunner.integrations.channel_client import MAX_LINE, SOCKET_ENV, TOKEN_ENV
from hookrunner.integrations.errors import IntegrationError, SlackError, SymIntegrationError
from hookrunner.integrations.registry import Integrations
from hookrunner.integrations.slack import SlackClient

log = structlog.get_logger("hookrunner.integrations.channel")

IDLE_TIMEOUT = 300.0  # a connection with no request for this long is closed
MAX_REQUEST = 1024 * 1024


@dataclass(frozen=True)
class RunContext:
    """What the daemon knows about a run that a hook's call may need."""

    run_id: str
    integrations: frozenset[str] = frozenset()  # the tables the run's flow lists
    requester: str = ""  # the request's requester: who ``allow_self`` leaves out
    slack_thread: tuple[str, str] | None = None  # (channel, ts) of the request's message


class ChannelServer:
    def __init__(self, integrations: Integrations, socket_path: Path) -> None:
        self.integrations = integrations
        self.socket_path = socket_path
        self._runs: dict[bytes, RunContext] = {}
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingUnixStreamServer | None = None

    # -- runs --------------------------------------------------------------------------

    def open_run(self, context: RunContext) -> dict[str, str]:
        """A fresh token for ``context``; returns the environment the hook needs."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._runs[_digest(token)] = context
        return {SOCKET_ENV: str(self.socket_path), TOKEN_ENV: token}

    def close_run(self, token: str) -> None:
        with self._lock:
            self._runs.pop(_digest(token), None)

    def _context(self, token: Any) -> RunContext | None:
        if not isinstance(token, str) or not token:
            return None
        with self._lock:
            return self._runs.get(_digest(token))

    # -- serving -----------------------------------------------------------------------

    def start(self) -> None:
        """Listen on ``socket_path`` (replacing a stale socket left by a crash)."""
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(self.socket_path.lstat().st_mode):
                self.socket_path.unlink()
        channel = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = IDLE_TIMEOUT

            def handle(self) -> None:
                channel.serve_connection(self.rfile, self.wfile)

        self._server = socketserver.ThreadingUnixStreamServer(str(self.socket_path), Handler)
        self._server.daemon_threads = True
        os.chmod(self.socket_path, 0o666)  # noqa: S103 - the per-run token guards it
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="integration-channel",
            daemon=True,
        ).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    def serve_connection(self, reader: Any, writer: Any) -> None:
        """Answer requests, one JSON line each, until the hook hangs up."""
        while True:
            try:
                line = reader.readline(MAX_REQUEST + 1)
            except (TimeoutError, OSError):
                return
            if not line:
                return
            if len(line) > MAX_REQUEST:
                writer.write(_answer_error("SymIntegrationError", "the request is too large"))
                return
            writer.write(self.answer(line))
            writer.flush()

    def answer(self, line: bytes) -> bytes:
        """One request line in, one answer line out; never a traceback."""
        try:
            request = json.loads(line)
        except ValueError:
            return _answer_error("SymIntegrationError", "the request is not JSON")
        if not isinstance(request, dict):
            return _answer_error("SymIntegrationError", "the request is not a JSON object")
        context = self._context(request.get("token"))
        if context is None:
            return _answer_error("SymIntegrationError", "this run's integration channel is closed")
        integration, function = request.get("integration"), request.get("function")
        args = request.get("args", {})
        if not (isinstance(integration, str) and isinstance(function, str)) or not isinstance(
            args, dict
        ):
            return _answer_error(
                "SymIntegrationError", "a request needs integration, function and args"
            )
        try:
            with structlog.contextvars.bound_contextvars(run_id=context.run_id):
                value = self._call(context, integration, function, args)
            answer = json.dumps({"ok": True, "value": value}).encode() + b"\n"
        except IntegrationError as exc:
            return _answer_error(exc.sdk_exception, exc.message, exc.code)
        except Exception:  # a bug must not reach the hook as a traceback, nor kill the channel
            log.exception("integration_channel_failed", run_id=context.run_id, function=function)
            return _answer_error("SymIntegrationError", f"{integration}.{function} failed")
        if len(answer) > MAX_LINE:
            return _answer_error("SymIntegrationError", f"{integration}.{function}: too large")
        return answer

    def _call(
        self, context: RunContext, integration: str, function: str, args: Mapping[str, Any]
    ) -> Any:
        """The call, with what only the daemon knows about this run filled in; only to
        an integration the run's flow lists."""
        integration = self.integrations.table_for(integration, context.integrations)
        client = self.integrations.client(integration)
        if isinstance(client, SlackClient):
            if function == "send_thread_message":
                return _thread_message(client, context, args)
            if function == "resolve_destination":
                args = {**args, "requester": context.requester}
        return self.integrations.call(integration, function, args)


def _thread_message(client: SlackClient, context: RunContext, args: Mapping[str, Any]) -> Any:
    """``send_thread_message(message)`` replies under this request's own Slack message."""
    if context.slack_thread is None:
        raise SlackError("this request has no Slack message to reply to", code="no_request_message")
    if set(args) != {"message"} or not isinstance(args["message"], str):
        raise SymIntegrationError("slack.send_thread_message takes one message")
    channel, ts = context.slack_thread
    return client.send_thread_message(channel, ts, args["message"])


def _digest(token: str) -> bytes:
    """Runs are looked up by a hash of the token, so lookups leak nothing about it."""
    return hashlib.sha256(token.encode()).digest()


def _answer_error(error: str, message: str, code: str = "") -> bytes:
    answer = {"ok": False, "error": error, "message": message, "code": code}
    return json.dumps(answer).encode() + b"\n"
