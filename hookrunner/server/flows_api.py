"""The flow and request endpoints of DESIGN §8.

The ``user`` in a body is who acts. The API trusts the caller to assert it, so the
``flows`` scope belongs only to the front end (chat bot, portal) that authenticated
that person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from pydantic import ValidationError as PydanticValidationError

from hookrunner.flows.definition import parse_duration
from hookrunner.flows.errors import (
    Conflict,
    FlowUnavailable,
    Invalid,
    NoSnapshot,
    NotFound,
    Refused,
)
from hookrunner.flows.fields import check_plain
from hookrunner.journal import REQUEST_STATES, JournalError
from hookrunner.payloads import first_error
from hookrunner.server.auth import Caller
from hookrunner.server.deps import (
    ServicesDep,
    parse_json,
    read_body,
    refuse_while_stopping,
    require,
)
from hookrunner.server.problems import Problem, journal_unavailable

T = TypeVar("T")
Scalar = StrictStr | StrictInt | StrictFloat | StrictBool | None
FieldValue = Scalar | Annotated[list[Scalar], Field(max_length=256)]
# The flow-unavailable problem: the flow is broken in this snapshot and not served.
FLOW_UNAVAILABLE = "https://hookrunner.dev/problems/flow-unavailable"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class UserRef(_Body):
    # Canonicalised and checked by the engine (flows/identity.py): a bad one is 422.
    email: StrictStr = Field(max_length=254)


class PromptBody(_Body):
    user: UserRef
    fields: dict[Annotated[str, Field(max_length=128)], FieldValue] = Field(
        default={}, max_length=64
    )


class RequestBody(PromptBody):
    duration: StrictInt | StrictFloat | StrictStr | None = None


class DecisionBody(_Body):
    user: UserRef
    reason: StrictStr | None = Field(default=None, max_length=4096)


B = TypeVar("B", bound=_Body)


async def _body(request: Request, model: type[B]) -> B:
    try:
        return model.model_validate(check_plain(parse_json(await read_body(request)), "body"))
    except PydanticValidationError as exc:
        raise Problem(422, first_error(exc)) from None
    except (Invalid, RecursionError) as exc:
        raise Problem(422, str(exc) or "body: nested too deep") from None


async def _engine_call(action: Callable[[], Awaitable[T]]) -> T:
    """Run an engine action, turning its refusals into problems."""
    try:
        return await action()
    except Refused as exc:
        raise Problem(403, str(exc)) from None
    except Conflict as exc:
        raise Problem(409, str(exc)) from None
    except NotFound as exc:
        raise Problem(404, str(exc)) from None
    except Invalid as exc:
        raise Problem(422, str(exc)) from None
    except FlowUnavailable as exc:
        raise Problem(503, str(exc), problem_type=FLOW_UNAVAILABLE) from None
    except NoSnapshot as exc:
        raise Problem(503, str(exc), {"Retry-After": "5"}) from None
    except JournalError as exc:
        raise journal_unavailable(exc) from exc


router = APIRouter()
FlowsCaller = Annotated[Caller, Depends(require("flows"))]
ReadCaller = Annotated[Caller, Depends(require("read"))]


@router.post("/v1/flows/{slug}/prompt", summary="May this user open a request?")
async def prompt(
    slug: str, request: Request, services: ServicesDep, _caller: FlowsCaller
) -> JSONResponse:
    body = await _body(request, PromptBody)
    refuse_while_stopping(services)
    await _engine_call(lambda: services.engine.prompt(slug, body.user.email, body.fields))
    return JSONResponse({"flow": slug, "allowed": True})


@router.post("/v1/flows/{slug}/requests", status_code=201, summary="Open an access request")
async def open_request(
    slug: str, request: Request, services: ServicesDep, _caller: FlowsCaller
) -> JSONResponse:
    body = await _body(request, RequestBody)
    try:
        duration = None if body.duration is None else parse_duration(body.duration)
    except ValueError as exc:
        raise Problem(422, f"duration: {exc}") from None
    refuse_while_stopping(services)
    key = request.headers.get("idempotency-key")
    dedup = f"idem:flow:{slug}:{key}" if key else None
    opened = await _engine_call(
        lambda: services.engine.request(slug, body.user.email, body.fields, duration, dedup)
    )
    if opened.duplicate:
        return JSONResponse({**opened.record.to_dict(), "duplicate": True}, status_code=200)
    return JSONResponse(opened.record.to_dict(), status_code=201)


def _decision(event: Literal["approve", "deny", "revoke"]) -> None:
    @router.post(f"/v1/requests/{{request_id}}/{event}", summary=f"{event.capitalize()} a request")
    async def decide(
        request_id: str, request: Request, services: ServicesDep, _caller: FlowsCaller
    ) -> JSONResponse:
        body = await _body(request, DecisionBody)
        refuse_while_stopping(services)
        record = await _engine_call(
            lambda: services.engine.act(request_id, event, body.user.email, body.reason)
        )
        # A revoke whose deescalation failed is retried in the background: not done yet.
        unfinished = event == "revoke" and record.state != "revoked"
        return JSONResponse(record.to_dict(), status_code=202 if unfinished else 200)


for _event in ("approve", "deny", "revoke"):
    _decision(_event)


@router.get("/v1/requests/{request_id}", summary="One request with its history")
async def show_request(request_id: str, services: ServicesDep, _caller: ReadCaller) -> JSONResponse:
    record = await asyncio.to_thread(services.journal.request, request_id)
    if record is None:
        raise Problem(404, f"no request {request_id!r}")
    return JSONResponse(record.to_dict())


@router.get("/v1/requests", summary="Requests, newest first")
async def list_requests(
    services: ServicesDep,
    _caller: ReadCaller,
    state: str | None = None,
    flow: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    if state is not None and state not in REQUEST_STATES:
        raise Problem(422, f"state: must be one of {', '.join(REQUEST_STATES)}")
    records = await asyncio.to_thread(services.journal.requests, state, flow, limit)
    return JSONResponse({"requests": [record.to_dict() for record in records]})


@router.get("/v1/flows", summary="The flows of the current snapshot: served or broken")
async def list_flows(services: ServicesDep, _caller: ReadCaller) -> JSONResponse:
    commit, states = await _engine_call(services.engine.flows)
    return JSONResponse({"commit": commit, "flows": [state.to_dict() for state in states]})


@router.get("/v1/flows/{slug}", summary="One flow: fields, targets, strategy, served or broken")
async def show_flow(slug: str, services: ServicesDep, _caller: ReadCaller) -> JSONResponse:
    state = await _engine_call(lambda: services.engine.flow(slug))
    return JSONResponse(state.to_dict())


@router.get("/v1/flows/{slug}/fields/{name}/options", summary="A @prefetch field's options")
async def field_options(
    slug: str,
    name: str,
    services: ServicesDep,
    _caller: FlowsCaller,
    user: Annotated[str, Query(max_length=254, description="who opens the request form")],
) -> JSONResponse:
    options = await _engine_call(lambda: services.engine.options(slug, name, user))
    return JSONResponse(options)
