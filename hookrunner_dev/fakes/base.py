"""A vendor API on 127.0.0.1: routes, an auth check, injected failures and a request log.

Each vendor fake subclasses ``FakeApi``, registers its real paths with ``@route``, and says
how its API checks a token and words an auth failure. Tests queue failures with
``fail_next`` (a 429 with its rate-limit header, a 503) and read ``requests`` to see what
the client really sent.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from hookrunner.config import IntegrationSettings


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: dict[str, str] = field(default_factory=dict)

    def form(self) -> dict[str, Any]:
        """The body as JSON or a form, whichever the content type says."""
        content_type = self.headers.get("content-type", "")
        if not self.body:
            return {}
        if content_type.startswith("application/json"):
            decoded = json.loads(self.body)
            return decoded if isinstance(decoded, dict) else {}
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}

    def arg(self, name: str, default: str | None = None) -> Any:
        """A parameter from the query string or the body (Slack takes either)."""
        if name in self.query:
            return self.query[name][0]
        return self.form().get(name, default)

    def args(self, name: str) -> list[str]:
        """A repeated query parameter (``statuses[]=a&statuses[]=b``)."""
        return self.query.get(name, [])


@dataclass
class FakeResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to hold the answer back (a slow or hung vendor)


Handler = Callable[[Any, FakeRequest], FakeResponse]


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of ``method`` (``"GET,POST"``: both) on ``pattern``."""

    def mark(handler: Handler) -> Handler:
        handler.route = (method, re.compile(pattern + "$"))  # type: ignore[attr-defined]
        return handler

    return mark


class FakeApi:
    """Serve the subclass's routes on a free port of 127.0.0.1."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.requests: list[FakeRequest] = []
        self._failures: deque[FakeResponse] = deque()
        self._lock = threading.Lock()
        self._routes = [
            (*getattr(type(self), name).route, getattr(self, name))
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "route")
        ]
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def start(self) -> FakeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, response: FakeResponse, times: int = 1) -> None:
        """Answer the next ``times`` requests with ``response`` (after the auth check)."""
        with self._lock:
            self._failures.extend([response] * times)

    def calls(self, path: str) -> list[FakeRequest]:
        """The requests made to ``path``."""
        return [r for r in self.requests if r.path == path]

    # -- what each vendor fake defines -------------------------------------------------

    def authorized(self, request: FakeRequest) -> bool:
        raise NotImplementedError

    def unauthorized(self) -> FakeResponse:
        raise NotImplementedError

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"message": "Not Found"})

    # -- serving -----------------------------------------------------------------------

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        with self._lock:
            self.requests.append(request)
        if not self.authorized(request):
            return self.unauthorized()
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure is not None:
            return failure
        for method, pattern, handler in self._routes:
            found = pattern.match(request.path)
            if request.method in method.split(",") and found:
                request.match = found.groupdict()
                return handler(request)  # type: ignore[no-any-return]
        return self.not_found(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = FakeRequest(
                    method=self.command,
                    path=unquote(url.path),
                    query=parse_qs(url.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = fake.dispatch(request)
                time.sleep(response.delay)
                payload = b"" if response.body is None else json.dumps(response.body).encode()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # gave up
                    self.send_response(response.status)
                    for name, value in response.headers.items():
                        self.send_header(name, value)
                    if payload:
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def page(items: list[Any], start: int, limit: int) -> tuple[list[Any], int | None]:
    """One page of ``items`` and the start of the next page (None on the last)."""
    chunk = items[start : start + limit]
    following = start + limit
    return chunk, (following if following < len(items) else None)


def settings_for(
    fake: FakeApi, tmp_path: Path, kind: str, token: str | None = None, **extra: Any
) -> IntegrationSettings:
    """``[integrations.<kind>]`` pointing at ``fake``, its token in a file under ``tmp_path``."""
    token_file = tmp_path / f"{kind}-token"
    token_file.write_text((fake.token if token is None else token) + "\n")
    return IntegrationSettings(type=kind, api_url=fake.url, token_file=str(token_file), **extra)
