"""What every endpoint shares: the daemon's services, auth, capped bodies, intake guard."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request

from hookrunner.approvals.interactions import SlackInteractions
from hookrunner.approvals.outbox import SlackOutbox
from hookrunner.config import SettingsView
from hookrunner.dispatch import Dispatcher
from hookrunner.flows.engine import Engine
from hookrunner.hook_runtime import HookRuntime
from hookrunner.journal import Journal, JournalError
from hookrunner.repo import Repository
from hookrunner.server.auth import Caller, TokenTable
from hookrunner.server.problems import Problem, journal_unavailable

T = TypeVar("T")


@dataclass
class Services:
    """What the API needs from the daemon. Settings are read through the daemon's holder,
    so a reload reaches every handler; the token table is replaced on reload. ``runtime``
    is what this daemon's hooks run with (its isolation and environments)."""

    settings: SettingsView
    journal: Journal
    dispatcher: Dispatcher
    repository: Repository
    engine: Engine
    runtime: HookRuntime
    tokens: TokenTable
    accepting: Callable[[], bool]
    slack: SlackInteractions | None = None  # Slack approvals: clicks, command, modals
    outbox: SlackOutbox | None = None  # delivers the Slack messages the engine journals


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _services(request: Request) -> Services:
    # Dependencies are async on purpose: FastAPI runs a plain ``def`` one in a worker
    # thread, and those thread hops cost more than the work itself.
    return services_of(request)


ServicesDep = Annotated[Services, Depends(_services)]


def require(scope: str) -> Callable[[Request], Awaitable[Caller]]:
    async def check(request: Request) -> Caller:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        challenge = {"WWW-Authenticate": 'Bearer realm="hookrunner"'}
        if scheme.lower() != "bearer" or not token.strip():
            raise Problem(401, "a bearer token is required", challenge)
        caller = services_of(request).tokens.identify(token.strip())
        if caller is None:
            raise Problem(401, "unknown token", challenge)
        if scope not in caller.scopes:
            raise Problem(403, f"token {caller.name!r} lacks the {scope!r} scope")
        return caller

    return check


async def read_body(request: Request) -> bytes:
    """The body, refused with 413 as soon as it passes ``server.max_body_bytes``."""
    cap = services_of(request).settings.server.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise Problem(413, f"body exceeds {cap} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise Problem(413, f"body exceeds {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Problem(400, f"body is not valid JSON: {exc}") from None
    except RecursionError:
        raise Problem(400, "body is nested too deeply") from None


def refuse_while_stopping(services: Services) -> None:
    if not services.accepting():
        raise Problem(503, "the daemon is shutting down", {"Retry-After": "5"})


def accept(services: Services, submit: Callable[[], T]) -> T:
    """Run an intake write, or refuse it while stopping or while the journal cannot write."""
    refuse_while_stopping(services)
    try:
        return submit()
    except JournalError as exc:
        raise journal_unavailable(exc) from exc
