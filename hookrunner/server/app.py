"""The HTTP API of DESIGN §8 (session events, webhooks, runs, sync, status, health).

Handlers validate, hand over to the dispatcher or repository, and shape the answer;
they never run a hook or a git command themselves.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from hookrunner import __version__
from hookrunner.config import read_secret
from hookrunner.dispatch import NotReplayable
from hookrunner.journal import RUN_STATES, Accepted, Delivery
from hookrunner.payloads import (
    PayloadError,
    SessionClose,
    SessionKind,
    SessionOpen,
    SvixError,
    parse_session_event,
    session_event_from_hoop_webhook,
)
from hookrunner.server import flows_api, slack_api
from hookrunner.server.auth import Caller
from hookrunner.server.deps import (
    Services,
    ServicesDep,
    accept,
    parse_json,
    read_body,
    require,
    services_of,
)
from hookrunner.server.problems import Problem, install_problem_handlers
from hookrunner.server.signatures import (
    SignatureError,
    verify_git_webhook,
    verify_standard_webhook,
)

log = structlog.get_logger("hookrunner.server")
Verifier = Callable[[str, Mapping[str, str], bytes, float], str | None]


async def signed_body(
    request: Request, name: str, secret: str, verify: Verifier
) -> tuple[bytes, str | None]:
    """The body of a webhook whose signature checks out, and its delivery id."""
    if not secret:
        raise Problem(404, f"the {name} webhook is not configured")
    body = await read_body(request)
    tolerance = services_of(request).settings.webhooks.tolerance
    try:
        return body, verify(secret, request.headers, body, tolerance)
    except SignatureError as exc:
        log.warning("webhook_refused", source=name, reason=str(exc))
        raise Problem(401, str(exc)) from None


async def _answer(services: Services, accepted: Accepted, wait: bool) -> JSONResponse:
    body: dict[str, Any] = {"event_id": accepted.event_id, "run_ids": accepted.run_ids}
    if accepted.duplicate:
        body["duplicate"] = True
    if not wait:
        return JSONResponse(body, status_code=202)
    executor = services.settings.executor
    limit = services.settings.repo.refresh_wait + executor.timeout + executor.kill_grace + 5
    # A new event's runs were queued just now; a repeated delivery's may be long done.
    runs = await services.dispatcher.wait_for(accepted.run_ids, limit, accepted.duplicate)
    body["runs"] = [run.to_dict() for run in runs]
    done = all(run.outcome is not None or run.final for run in runs)
    return JSONResponse(body, status_code=200 if done else 202)


def _event_schema(model: type[SessionOpen] | type[SessionClose]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema["properties"] = {"sid": {"type": "string"}, **schema["properties"]}
    schema["required"] = ["sid", *schema.get("required", [])]
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def create_app(services: Services) -> FastAPI:
    app = FastAPI(title="hookrunner", version=__version__, docs_url=None, redoc_url=None)
    app.state.services = services
    install_problem_handlers(app)
    app.include_router(flows_api.router)
    app.include_router(slack_api.router)

    def session_endpoint(kind: SessionKind, model: type[SessionOpen] | type[SessionClose]) -> None:
        @app.post(
            f"/v1/events/{kind}",
            status_code=202,
            openapi_extra=_event_schema(model),
            summary=f"Queue a {kind} event",
            name=f"post_{kind.replace('-', '_')}",
        )
        async def post_event(
            request: Request,
            services: ServicesDep,
            _caller: Annotated[Caller, Depends(require("events"))],
            wait: bool = False,
        ) -> JSONResponse:
            body = parse_json(await read_body(request))
            try:
                event = parse_session_event(kind, body)
            except PayloadError as exc:
                raise Problem(422, str(exc)) from None
            key = request.headers.get("idempotency-key")
            dedup = Delivery("session", f"{kind}:{key}") if key else None
            accepted = await asyncio.to_thread(
                accept, services, lambda: services.dispatcher.submit(event, dedup)
            )
            return await _answer(services, accepted, wait)

    session_endpoint("session-open", SessionOpen)
    session_endpoint("session-close", SessionClose)

    @app.post("/v1/webhooks/hoop", status_code=202, summary="hoop session webhook (signed)")
    async def hoop_webhook(request: Request, services: ServicesDep) -> JSONResponse:
        hooks = services.settings.webhooks
        secret = read_secret(hooks.hoop_secret, hooks.hoop_secret_file)
        body, message_id = await signed_body(request, "hoop", secret, verify_standard_webhook)
        try:
            event = session_event_from_hoop_webhook(parse_json(body))
        except (SvixError, PayloadError) as exc:
            raise Problem(422, str(exc)) from None
        dedup = Delivery("hoop_webhook", message_id) if message_id else None
        accepted = await asyncio.to_thread(
            accept, services, lambda: services.dispatcher.submit(event, dedup)
        )
        log.info(
            "webhook", source="hoop", delivery=message_id, event_id=accepted.event_id,
            duplicate=accepted.duplicate,
        )  # fmt: skip
        return await _answer(services, accepted, wait=False)

    @app.post("/v1/webhooks/git", status_code=202, summary="Push webhook (signed): refresh")
    async def git_webhook(request: Request, services: ServicesDep) -> JSONResponse:
        hooks = services.settings.webhooks
        secret = read_secret(hooks.git_secret, hooks.git_secret_file)
        _body, delivery = await signed_body(request, "git", secret, verify_git_webhook)
        if delivery is not None:
            fresh = await asyncio.to_thread(
                services.journal.remember_delivery, Delivery("git_webhook", delivery)
            )
            if not fresh:
                log.info("webhook", source="git", delivery=delivery, duplicate=True)
                return JSONResponse({"refresh": "duplicate"}, status_code=202)
        services.repository.request_refresh()
        log.info("webhook", source="git", delivery=delivery, duplicate=False)
        return JSONResponse({"refresh": "queued"}, status_code=202)

    @app.get("/v1/runs", summary="Runs, newest first")
    async def list_runs(
        services: ServicesDep,
        _caller: Annotated[Caller, Depends(require("read"))],
        status: str | None = None,
        event_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JSONResponse:
        if status is not None and status not in RUN_STATES:
            raise Problem(422, f"status: must be one of {', '.join(RUN_STATES)}")
        runs = await asyncio.to_thread(services.journal.runs, status, event_id, limit + 1)
        return JSONResponse(
            {"runs": [run.to_dict() for run in runs[:limit]], "more": len(runs) > limit}
        )

    @app.get("/v1/runs/{run_id}", summary="One run")
    async def show_run(
        run_id: str, services: ServicesDep, _caller: Annotated[Caller, Depends(require("read"))]
    ) -> JSONResponse:
        run = await asyncio.to_thread(services.journal.run, run_id)
        if run is None:
            raise Problem(404, f"no run {run_id!r}")
        return JSONResponse(run.to_dict())

    @app.post("/v1/runs/{run_id}/replay", status_code=202, summary="Run an event again")
    async def replay_run(
        run_id: str, services: ServicesDep, _caller: Annotated[Caller, Depends(require("admin"))]
    ) -> JSONResponse:
        try:
            accepted = await asyncio.to_thread(
                accept, services, lambda: services.dispatcher.replay(run_id)
            )
        except NotReplayable as exc:
            raise Problem(409, str(exc)) from None
        if accepted is None:
            raise Problem(404, f"no run {run_id!r}")
        return await _answer(services, accepted, wait=False)

    @app.post("/v1/sync", summary="Refresh the runbooks repository now")
    async def sync(
        services: ServicesDep, _caller: Annotated[Caller, Depends(require("admin"))]
    ) -> JSONResponse:
        # A forced refresh may queue behind the one running, and each may heal once.
        wait = 4 * services.settings.repo.fetch_timeout + 5
        report = await asyncio.to_thread(services.repository.refresh, wait)
        if report is None:
            last = services.repository.last_sync
            error = f"; last error: {last.error}" if last is not None and last.error else ""
            raise Problem(503, f"the refresh is still running after {wait:g} s{error}")
        if not report.ok:
            return JSONResponse(
                {"ok": False, "error": report.error, "detail": f"git sync failed: {report.error}"},
                status_code=502,
            )
        return JSONResponse({"ok": True, "commit": report.commit})

    @app.get("/v1/status", summary="Commit, last sync, queue")
    async def status(
        services: ServicesDep, _caller: Annotated[Caller, Depends(require("read"))]
    ) -> JSONResponse:
        document = await asyncio.to_thread(status_document, services)
        _commit, flows = await services.engine.flows()
        document["flows"] = {
            "served": [state.slug for state in flows if state.flow is not None],
            "broken": {state.slug: state.error for state in flows if state.flow is None},
        }
        return JSONResponse(document)

    @app.get("/healthz", include_in_schema=True)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(services: ServicesDep) -> JSONResponse:
        reason = services.repository.waiting_reason() if services.accepting() else "shutting down"
        if reason is None:
            return JSONResponse({"ready": True})
        return JSONResponse({"ready": False, "reason": reason}, status_code=503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


def status_document(services: Services) -> dict[str, Any]:
    index = services.repository.last_good()
    sync = services.repository.last_sync
    counts = services.journal.counts()
    return {
        "version": __version__,
        "commit": index.snapshot.commit if index else None,
        "refused_hooks": dict(index.refused) if index else {},
        "last_sync": None
        if sync is None
        else {
            "ok": sync.ok,
            "result": sync.result,
            "at": sync.at,
            "error": sync.error,
            "commit": sync.commit,
        },
        "waiting": services.repository.waiting_reason(),
        "ttl": services.settings.repo.ttl,
        "queue_depth": counts.get("queued", 0),
        "running": services.dispatcher.running,
        "dead": counts.get("dead", 0),
        "isolation": services.runtime.isolation.status(),
        "time": time.time(),
    }
