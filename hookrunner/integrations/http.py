"""The HTTP client every vendor client shares: auth, retries, rate limits, a read cache, logs.

One instance per ``[integrations.<name>]`` table. The token is read from its file on each
call (so a rotated credential is picked up) and goes only into the request's headers: it is
never stored on the client, logged, or put into an error message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpx
import structlog
from cachetools import TTLCache

from hookrunner.config import IntegrationSettings, secret_path
from hookrunner.integrations.errors import IntegrationError, SymIntegrationError

log = structlog.get_logger("hookrunner.integrations")

Params = Mapping[str, str | int | list[str]]
MAX_PAGES = 500  # a list longer than this is an API looping, not a directory


@dataclass(frozen=True)
class CallPolicy:
    """How long to wait for a vendor and how hard to retry it."""

    timeout: float = 10.0
    max_attempts: int = 4
    backoff: float = 0.5  # first 5xx retry waits this long, doubling each time
    max_wait: float = 30.0  # a longer Retry-After fails the call instead of blocking it
    cache_ttl: float = 30.0  # 0 turns the read cache off
    cache_size: int = 2048


@dataclass(frozen=True)
class ApiResponse:
    """A decoded response: what the vendor clients read, and what the cache keeps."""

    status: int
    body: Any
    headers: httpx.Headers
    next_url: str | None  # the Link header's rel="next", already checked to stay on the API


class ApiClient:
    """Base for the vendor clients; subclasses say how to authenticate and read errors."""

    error_class: type[IntegrationError] = IntegrationError
    default_url = ""
    hook_functions: frozenset[str] = frozenset()  # what a hook may call through the daemon

    def __init__(
        self,
        name: str,
        settings: IntegrationSettings,
        policy: CallPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.settings = settings
        self.policy = policy or CallPolicy()
        self._sleep = sleep
        base = settings.api_url or self.default_base()
        if not base:
            raise SymIntegrationError(
                f"[integrations.{name}] needs api_url (or external_id)", integration=name
            )
        self.base_url = base if base.endswith("/") else base + "/"
        self._http = httpx.Client(base_url=self.base_url, timeout=self.policy.timeout)
        self._cache: TTLCache[tuple[Any, ...], ApiResponse] = TTLCache(
            maxsize=self.policy.cache_size, ttl=max(self.policy.cache_ttl, 0.001)
        )
        self._cache_lock = threading.Lock()

    # -- what subclasses provide -------------------------------------------------------

    def default_base(self) -> str:
        """The API's address when ``api_url`` is not set."""
        return self.default_url

    def auth_headers(self, token: str) -> dict[str, str]:
        """The headers that carry ``token``."""
        raise NotImplementedError

    def error_for(self, response: httpx.Response) -> IntegrationError | None:
        """The error a response means, or None when it is a success."""
        if response.is_success:
            return None
        return self.error_class(
            f"{self.name}: HTTP {response.status_code}",
            integration=self.name,
            status=response.status_code,
        )

    def rate_limit_wait(self, response: httpx.Response) -> float | None:
        """Seconds to wait before retrying a rate-limited response, None if it is not one."""
        if response.status_code != 429:
            return None
        return header_seconds(response.headers.get("Retry-After"), default=1.0)

    # -- the shared machinery ----------------------------------------------------------

    def token(self) -> str:
        """The API token, read fresh from ``token_file``."""
        file_name = self.settings.token_file
        if not file_name:
            raise SymIntegrationError(
                f"[integrations.{self.name}] token_file is not set", integration=self.name
            )
        try:
            token = secret_path(file_name).read_text().strip()
        except OSError as exc:
            raise SymIntegrationError(
                f"[integrations.{self.name}] token_file cannot be read ({exc.strerror})",
                integration=self.name,
            ) from None
        if not token:
            raise SymIntegrationError(
                f"[integrations.{self.name}] token_file is empty", integration=self.name
            )
        return token

    def get(self, path: str, params: Params | None = None, *, cached: bool = True) -> ApiResponse:
        """A read; answered from the TTL cache when the same read ran recently."""
        key = (path, tuple(sorted((k, repr(v)) for k, v in (params or {}).items())))
        cached = cached and self.policy.cache_ttl > 0
        if cached:
            with self._cache_lock:
                hit = self._cache.get(key)
            if hit is not None:
                return hit
        response = self.request("GET", path, params=params)
        if cached:
            with self._cache_lock:
                self._cache[key] = response
        return response

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """One call, retried on 429 (after the vendor's wait) and on 5xx (with backoff)."""
        if method != "GET":
            self.forget_reads()
        headers = self.auth_headers(self.token())
        attempt = 0
        while True:
            attempt += 1
            started = time.monotonic()
            try:
                response = self._http.request(
                    method, path, params=params, json=json, data=data, headers=headers
                )
            except httpx.TransportError as exc:
                log_call(
                    self.name, method, _endpoint(path), None, started, attempt, type(exc).__name__
                )
                if attempt < self.policy.max_attempts and _safe_to_resend(method, exc):
                    self._sleep(self._backoff(attempt))
                    continue
                raise self.error_class(
                    f"{self.name}: {method} {_endpoint(path)} failed ({type(exc).__name__})",
                    integration=self.name,
                ) from None
            log_call(self.name, method, _endpoint(path), response.status_code, started, attempt)
            wait = self._retry_wait(response, attempt)
            if wait is None:
                return self._decode(response)
            self._sleep(wait)

    def pages(self, path: str, params: Params | None = None) -> Iterator[ApiResponse]:
        """Follow ``Link: rel="next"`` pages (Okta, GitHub), cached like single reads."""
        response = self.get(path, params)
        yield response
        for _ in self.page_budget(path):
            if response.next_url is None:
                return
            response = self.get(response.next_url)
            yield response

    def page_budget(self, path: str) -> Iterator[int]:
        """Page numbers for a paginated read, failing past ``MAX_PAGES``."""
        yield from range(MAX_PAGES)
        raise self.error_class(
            f"{self.name}: {_endpoint(path)} gave more than {MAX_PAGES} pages",
            integration=self.name,
            code="too_many_pages",
        )

    def forget_reads(self) -> None:
        """Drop cached reads: a write may have changed what they said."""
        with self._cache_lock:
            self._cache.clear()

    def close(self) -> None:
        self._http.close()

    # -- internals ---------------------------------------------------------------------

    def _retry_wait(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before the next attempt; None when this response is final."""
        wait = self.rate_limit_wait(response)
        if wait is None and response.status_code >= 500:
            wait = self._backoff(attempt)
        if wait is None or attempt >= self.policy.max_attempts:
            return None
        if wait > self.policy.max_wait:
            return None  # report it now rather than hold a hook for minutes
        return wait

    def _backoff(self, attempt: int) -> float:
        return float(min(self.policy.backoff * 2 ** (attempt - 1), self.policy.max_wait))

    def _decode(self, response: httpx.Response) -> ApiResponse:
        error = self.error_for(response)
        if error is not None:
            raise error
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                raise self.error_class(
                    f"{self.name}: the API answered with something other than JSON",
                    integration=self.name,
                    status=response.status_code,
                ) from None
        return ApiResponse(response.status_code, body, response.headers, self._next(response))

    def _next(self, response: httpx.Response) -> str | None:
        """The next page's URL, refused if it would send the token to another host."""
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        absolute = urljoin(str(response.request.url), link)
        if not absolute.startswith(self.base_url):
            raise self.error_class(
                f"{self.name}: the next page points outside {self.base_url}",
                integration=self.name,
            )
        return absolute


def log_call(
    integration: str,
    method: str,
    endpoint: str,
    status: int | None,
    started: float,
    attempt: int = 1,
    error: str = "",
) -> None:
    """One line per call: what and how it went, never a header, token or body."""
    log.info(
        "integration_call",
        integration=integration,
        method=method,
        endpoint=endpoint,
        status=status,
        attempt=attempt,
        duration_ms=round((time.monotonic() - started) * 1000, 1),
        **({"error": error} if error else {}),
    )


def _endpoint(path: str) -> str:
    """The path without its query string: what a log line may show."""
    return path.split("?", 1)[0]


def _safe_to_resend(method: str, exc: httpx.TransportError) -> bool:
    """A request that never reached the vendor, or a read, may be sent again."""
    return method in {"GET", "PUT", "DELETE"} or isinstance(exc, httpx.ConnectError)


def header_seconds(value: str | None, default: float) -> float:
    """A header holding a number of seconds; ``default`` when absent or unreadable."""
    try:
        return max(float(value), 0.0) if value is not None else default
    except ValueError:
        return default
