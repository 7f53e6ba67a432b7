"""What people do in Slack: click Approve / Deny / Revoke, run the slash command, submit
the request modal. Each goes through the engine exactly as the API does (channel
``slack``), as the person whose Slack account clicked (their e-mail from ``users.info``).

Slack wants an answer within 3 s, so clicks and commands are acknowledged at once and
done here in the background; what went wrong is told to that person only (ephemeral).
A modal submission is answered inline when the engine decides in time, so validation
errors show on the modal's fields; past that, the modal closes and the outcome comes
as a direct message.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog

from hookrunner.approvals.blocks import (
    ACTION_EVENTS,
    PICK_FLOW_VIEW,
    REQUEST_VIEW,
    pick_flow_modal,
    picked_flow,
    request_modal,
    submitted,
)
from hookrunner.approvals.clients import SlackClients
from hookrunner.flows.engine import Engine
from hookrunner.flows.errors import FlowEngineError
from hookrunner.integrations.errors import IntegrationError
from hookrunner.integrations.slack import SlackClient
from hookrunner.journal import JournalError

log = structlog.get_logger("hookrunner.approvals")
SUBMIT_WAIT = 2.0  # seconds a modal submission waits for the engine before closing
DEFAULT_COMMAND = "/access"
RESPONSE_URL_HOSTS = ("https://hooks.slack.com/",)
_FIELD_ERROR = re.compile(r"^(?:fields\.)?(\w+): (.+)$", re.DOTALL)


class NotAllowed(Exception):
    """The Slack user cannot act here (no e-mail, another workspace); the text says why."""


class SlackInteractions:
    def __init__(self, engine: Engine, clients: SlackClients) -> None:
        self.engine = engine
        self.clients = clients
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Awaitable[None], name: str) -> None:
        """Run ``work`` after the answer has gone back to Slack."""
        task = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    # -- who is acting --------------------------------------------------------------------

    async def email_of(self, table: str, payload: dict[str, Any], user_id: str) -> str:
        """The e-mail of the Slack user acting, in the workspace the table is for."""
        settings = self.clients.settings.integrations[table]
        team = payload.get("team")
        team_id = team.get("id") if isinstance(team, dict) else payload.get("team_id")
        if settings.external_id and team_id != settings.external_id:
            raise NotAllowed(f"this Slack workspace ({team_id}) is not the one configured")
        client = self.clients.client(table)
        email = await asyncio.to_thread(client.email_of, user_id)
        if not email:
            raise NotAllowed("your Slack account has no e-mail address, so it cannot act")
        return email

    # -- buttons --------------------------------------------------------------------------

    async def click(self, table: str, payload: dict[str, Any]) -> None:
        """Approve, deny or revoke from a button; a refusal is told to the clicker only."""
        actions = [a for a in payload.get("actions", []) if a.get("action_id") in ACTION_EVENTS]
        if not actions:
            return
        action = actions[0]
        event, request_id = ACTION_EVENTS[action["action_id"]], str(action.get("value", ""))
        user_id = str(payload.get("user", {}).get("id", ""))

        async def act() -> None:
            email = await self.email_of(table, payload, user_id)
            await self.engine.act(request_id, event, email, None, channel="slack")
            log.info("slack_click", request_id=request_id, action=event, user=email)

        await self._telling(table, payload, act, f"Could not {event}")

    # -- the slash command and its modal --------------------------------------------------

    def command_name(self, table: str) -> str:
        settings = self.clients.settings.integrations[table].settings
        return str(settings.get("slash_command", DEFAULT_COMMAND))

    async def command(self, table: str, form: dict[str, Any]) -> None:
        """``/access [flow]``: open the flow's request modal, or a modal listing the flows."""
        slug = str(form.get("text", "")).strip()

        async def open_modal() -> None:
            email = await self.email_of(table, form, str(form.get("user_id", "")))
            if slug:
                view = await self._request_modal(slug, email)
            else:
                _commit, states = await self.engine.flows()
                served = [state.slug for state in states if state.flow is not None]
                if not served:
                    raise NotAllowed("no flow is served right now")
                view = pick_flow_modal(served)
            client = self.clients.client(table)
            await asyncio.to_thread(
                client.post, "views.open", {"trigger_id": form.get("trigger_id"), "view": view}
            )

        await self._telling(table, form, open_modal, "Could not open the request form")

    async def _served(self, slug: str) -> dict[str, Any]:
        """The flow's document (as ``GET /v1/flows/{slug}``), if it takes requests now."""
        flow: dict[str, Any] = (await self.engine.flow(slug)).to_dict()
        if not flow["served"]:
            raise NotAllowed(f"flow {slug} cannot take requests now: {flow['error']}")
        return flow

    async def _request_modal(self, slug: str, email: str) -> dict[str, Any]:
        flow = await self._served(slug)
        await self.engine.prompt(slug, email, {})  # on_prompt may turn the person away
        options = {name: await self.engine.options(slug, name, email) for name in flow["prefetch"]}
        return request_modal(flow, options)

    async def submission(self, table: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """A submitted modal: the next modal, errors for its fields, or ``None`` (close)."""
        view = payload.get("view") or {}
        callback = view.get("callback_id")
        user_id = str(payload.get("user", {}).get("id", ""))
        try:
            email = await self.email_of(table, payload, user_id)
            if callback == PICK_FLOW_VIEW:
                modal = await self._request_modal(picked_flow(view), email)
                return {"response_action": "update", "view": modal}
            if callback != REQUEST_VIEW:
                return None
            return await self._open_request(table, payload, view, email)
        except (NotAllowed, FlowEngineError, IntegrationError, JournalError) as exc:
            return _errors(view, str(exc))

    async def _open_request(
        self, table: str, payload: dict[str, Any], view: dict[str, Any], email: str
    ) -> dict[str, Any] | None:
        slug = str(view.get("private_metadata", ""))
        flow = await self._served(slug)
        try:
            fields = submitted(view, flow)
        except ValueError as exc:
            block, message = exc.args
            return _errors(view, f"{block}: {message}")
        opening = asyncio.ensure_future(
            self.engine.request(slug, email, fields, None, channel="slack")
        )
        done, _pending = await asyncio.wait({opening}, timeout=SUBMIT_WAIT)
        if not done:  # the hooks take longer than Slack waits: tell the outcome later
            self.spawn(self._later(table, payload, opening), "slack-request")
            return None
        try:
            opening.result()
        except (FlowEngineError, JournalError) as exc:
            return _errors(view, str(exc))
        return None

    async def _later(self, table: str, payload: dict[str, Any], opening: Awaitable[Any]) -> None:
        async def wait() -> None:
            await opening

        await self._telling(table, payload, wait, "Your request was not opened", direct=True)

    # -- telling the person ---------------------------------------------------------------

    async def _telling(
        self,
        table: str,
        payload: dict[str, Any],
        work: Callable[[], Awaitable[None]],
        failed: str,
        direct: bool = False,
    ) -> None:
        """Do ``work``; if it is refused or fails, say so to the person only."""
        try:
            await work()
            return
        except (NotAllowed, FlowEngineError, IntegrationError, JournalError) as exc:
            reason = str(exc)
        except Exception:  # a bug must not pass in silence: the person hears, the log has it
            log.exception("slack_interaction_error")
            reason = "an internal error (see the daemon's log)"
        log.info("slack_refused", reason=reason)
        try:
            await asyncio.to_thread(self._tell, table, payload, f"{failed}: {reason}", direct)
        except (IntegrationError, httpx.HTTPError) as exc:
            log.warning("slack_reply_failed", error=str(exc))

    def _tell(self, table: str, payload: dict[str, Any], text: str, direct: bool) -> None:
        client = self.clients.client(table)
        user = payload.get("user")
        user_id = str(user.get("id", "")) if isinstance(user, dict) else ""
        user_id = user_id or str(payload.get("user_id", ""))
        if direct:
            client.send_message({"type": "slack_user", "id": user_id}, text)
            return
        response_url = str(payload.get("response_url", ""))
        if _may_answer_to(response_url, client):
            body = {"response_type": "ephemeral", "replace_original": False, "text": text}
            httpx.post(response_url, json=body, timeout=5.0).raise_for_status()
            return
        channel = payload.get("channel")
        channel_id = channel.get("id") if isinstance(channel, dict) else payload.get("channel_id")
        client.post("chat.postEphemeral", {"channel": channel_id, "user": user_id, "text": text})


def _may_answer_to(url: str, client: SlackClient) -> bool:
    """Slack's own response URLs, or those of the API the table points at (a local
    Slack in tests): never an address a payload could pick to make the daemon call."""
    return bool(url) and url.startswith((*RESPONSE_URL_HOSTS, client.base_url))


def _errors(view: dict[str, Any], message: str) -> dict[str, Any]:
    """``response_action: errors`` on the field the message names, else the first one."""
    blocks = [b.get("block_id") for b in view.get("blocks", []) if b.get("type") == "input"]
    found = _FIELD_ERROR.match(message)
    if found and found[1] in blocks:
        return {"response_action": "errors", "errors": {found[1]: found[2][:150]}}
    target = blocks[0] if blocks else "reason"
    return {"response_action": "errors", "errors": {target: message[:150]}}
