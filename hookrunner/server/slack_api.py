"""``POST /v1/webhooks/slack``: Slack's interactivity (buttons, modals) and slash command.

No bearer token: Slack signs every request (``X-Slack-Signature`` v0) with the app's
signing secret. A request that is unsigned, signed wrongly, older or newer than the
tolerance, or a replay of one already seen is refused with a 401 and does nothing.
Slack waits 3 s at most, so the work is done after the answer (modal submissions
excepted: their errors must be the answer).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import structlog
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, StrictStr
from pydantic import ValidationError as PydanticValidationError

from hookrunner.approvals.interactions import SlackInteractions
from hookrunner.journal import Delivery
from hookrunner.payloads import first_error
from hookrunner.server.deps import ServicesDep, accept, read_body
from hookrunner.server.problems import Problem
from hookrunner.server.signatures import SignatureError, verify_slack

log = structlog.get_logger("hookrunner.server")
router = APIRouter()


def _form(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Problem(400, "body is not a form") from None
    return {key: values[0] for key, values in parsed.items()}


class _Part(BaseModel):
    """A part of a Slack payload: the keys read here are checked, the rest kept."""

    model_config = ConfigDict(extra="allow")


class _Id(_Part):
    id: StrictStr = ""


class _Action(_Part):
    action_id: StrictStr = ""
    value: StrictStr = ""


class _View(_Part):
    callback_id: StrictStr = ""
    private_metadata: StrictStr = ""
    blocks: list[dict[str, Any]] = []
    state: dict[str, dict[str, dict[str, dict[str, Any]]]] = {}


class _Interaction(_Part):
    type: StrictStr = ""
    trigger_id: StrictStr = ""
    response_url: StrictStr = ""
    user: _Id = _Id()
    team: _Id | None = None
    channel: _Id | None = None
    actions: list[_Action] = []
    view: _View = _View()


def _payload(form: dict[str, str]) -> dict[str, Any]:
    """The interaction payload, in the shape the handlers read (else a 4xx problem)."""
    try:
        return _Interaction.model_validate_json(form["payload"]).model_dump()
    except PydanticValidationError as exc:
        raise Problem(422, f"payload: {first_error(exc)}") from None


@router.post("/v1/webhooks/slack", summary="Slack interactivity and slash command (signed)")
async def slack_webhook(request: Request, services: ServicesDep) -> Response:
    slack: SlackInteractions | None = services.slack
    secrets = await asyncio.to_thread(slack.clients.signing_secrets) if slack else []
    if slack is None or not secrets:
        raise Problem(404, "the Slack webhook is not configured (signing_secret_file)")
    body = await read_body(request)
    tolerance = services.settings.webhooks.tolerance
    try:
        table, signature = verify_slack(secrets, request.headers, body, tolerance)
    except SignatureError as exc:
        log.warning("webhook_refused", source="slack", reason=str(exc))
        raise Problem(401, str(exc)) from None
    fresh = await asyncio.to_thread(
        accept, services, lambda: services.journal.remember_delivery(Delivery("slack", signature))
    )
    if not fresh:
        log.warning("webhook_refused", source="slack", reason="replayed")
        raise Problem(401, "this signed request was already received (a replay)")
    form = _form(body)
    if "payload" in form:
        payload = _payload(form)
        kind = payload.get("type")
        trigger = payload.get("trigger_id")
        if (
            isinstance(trigger, str)
            and trigger
            and not await asyncio.to_thread(
                services.journal.remember_delivery, Delivery("slack", f"trigger:{trigger}")
            )
        ):
            log.info("webhook", source="slack", trigger=trigger, duplicate=True)
            return Response(status_code=200)  # the same interaction again: done once
        if kind == "block_actions":
            slack.spawn(slack.click(table, payload), "slack-click")
        elif kind == "view_submission":
            answer = await slack.submission(table, payload)
            if answer is not None:
                return JSONResponse(answer)
        return Response(status_code=200)
    if form.get("ssl_check") == "1":  # Slack checking the certificate of a command's URL
        return Response(status_code=200)
    if "command" in form:
        if form["command"] != slack.command_name(table):
            raise Problem(422, f"unknown slash command {form['command']!r}")
        slack.spawn(slack.command(table, form), "slack-command")
        return Response(status_code=200)
    raise Problem(422, "neither an interaction payload nor a slash command")
