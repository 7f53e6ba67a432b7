"""Slack Web API (https://api.slack.com/methods): the methods hookrunner calls.

Every answer is HTTP 200 with ``ok``; failures carry ``error`` (``invalid_auth``,
``users_not_found``, ``channel_not_found``…); lists page with ``cursor``/``limit`` and
``response_metadata.next_cursor``; rate limits are HTTP 429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from hookrunner_dev.fakes.base import FakeApi, FakeRequest, FakeResponse, page, route

BOT_TOKEN = "xoxb-1111-2222-fake"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
_triggers = itertools.count(1)


def slack_user(user_id: str, email: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "team_id": "T0123ABCD",
        "name": name,
        "deleted": False,
        "is_bot": False,
        "profile": {"email": email, "real_name": name.title(), "display_name": name},
        **extra,
    }


class FakeSlack(FakeApi):
    def __init__(self, token: str = BOT_TOKEN) -> None:
        super().__init__(token)
        self.users: list[dict[str, Any]] = []
        self.channels: dict[str, dict[str, Any]] = {}
        self.usergroups: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.ephemerals: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []  # every chat.update, in order
        self.views: list[dict[str, Any]] = []  # views.open calls: trigger_id and view
        self.responses: list[dict[str, Any]] = []  # what was posted to response_url
        self.outage: FakeResponse | None = None  # Slack down: every method answers this
        self.max_page = 2  # Slack may return fewer than asked for; this forces paging
        self.stuck_cursor = False  # a broken API: every page says there is another
        self._ts = itertools.count(1)

    # -- set-up ------------------------------------------------------------------------

    def add_user(self, user_id: str, email: str, name: str, **extra: Any) -> None:
        self.users.append(slack_user(user_id, email, name, **extra))

    def add_channel(self, channel_id: str, name: str, members: list[str]) -> None:
        self.channels[channel_id] = {"id": channel_id, "name": name, "members": members}

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        self.usergroups.append({"id": group_id, "handle": handle, "users": users})

    def response_url(self, name: str) -> str:
        """A response URL as an interaction payload carries (Slack's hooks.slack.com)."""
        return f"{self.url}response/{name}"

    # -- the wire format ---------------------------------------------------------------

    def authorized(self, request: FakeRequest) -> bool:
        if request.path.startswith("/response/"):  # a response URL is its own credential
            return "authorization" not in request.headers
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def dispatch(self, request: FakeRequest) -> FakeResponse:
        if self.outage is not None:
            with self._lock:
                self.requests.append(request)
            return self.outage
        return super().dispatch(request)

    def unauthorized(self) -> FakeResponse:
        return FakeResponse(200, {"ok": False, "error": "invalid_auth"})

    def not_found(self, request: FakeRequest) -> FakeResponse:
        return FakeResponse(404, {"ok": False, "error": "unknown_method"})

    @staticmethod
    def ok(**body: Any) -> FakeResponse:
        return FakeResponse(200, {"ok": True, **body})

    @staticmethod
    def error(code: str) -> FakeResponse:
        return FakeResponse(200, {"ok": False, "error": code})

    @staticmethod
    def ratelimited(seconds: int = 1) -> FakeResponse:
        return FakeResponse(
            429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(seconds)}
        )

    def paged(self, request: FakeRequest, key: str, items: list[Any]) -> FakeResponse:
        limit = min(int(request.arg("limit", "100")), self.max_page)
        cursor = request.arg("cursor", "")
        start = int(base64.b64decode(cursor).decode().split(":")[1]) if cursor else 0
        chunk, following = page(items, start, limit)
        next_cursor = base64.b64encode(f"next:{following}".encode()).decode() if following else ""
        if self.stuck_cursor:
            next_cursor = cursor or base64.b64encode(b"next:0").decode()
        return self.ok(**{key: chunk, "response_metadata": {"next_cursor": next_cursor}})

    def _user(self, key: str, value: str) -> dict[str, Any] | None:
        for user in self.users:
            found = user["profile"]["email"] if key == "email" else user["id"]
            if found == value:
                return user
        return None

    # -- methods -----------------------------------------------------------------------

    @route("GET,POST", "/users.lookupByEmail")
    def users_lookup_by_email(self, request: FakeRequest) -> FakeResponse:
        user = self._user("email", request.arg("email", ""))
        return self.ok(user=user) if user else self.error("users_not_found")

    @route("GET,POST", "/users.info")
    def users_info(self, request: FakeRequest) -> FakeResponse:
        user = self._user("id", request.arg("user", ""))
        return self.ok(user=user) if user else self.error("user_not_found")

    @route("GET,POST", "/users.list")
    def users_list(self, request: FakeRequest) -> FakeResponse:
        return self.paged(request, "members", self.users)

    @route("GET,POST", "/conversations.list")
    def conversations_list(self, request: FakeRequest) -> FakeResponse:
        listed = [{"id": c["id"], "name": c["name"]} for c in self.channels.values()]
        return self.paged(request, "channels", listed)

    @route("GET,POST", "/conversations.members")
    def conversations_members(self, request: FakeRequest) -> FakeResponse:
        channel = self.channels.get(request.arg("channel", ""))
        if channel is None:
            return self.error("channel_not_found")
        return self.paged(request, "members", channel["members"])

    @route("GET,POST", "/usergroups.list")
    def usergroups_list(self, request: FakeRequest) -> FakeResponse:
        groups = [{"id": g["id"], "handle": g["handle"]} for g in self.usergroups]
        return self.ok(usergroups=groups)

    @route("GET,POST", "/usergroups.users.list")
    def usergroups_users_list(self, request: FakeRequest) -> FakeResponse:
        for group in self.usergroups:
            if group["id"] == request.arg("usergroup"):
                return self.ok(users=group["users"])
        return self.error("no_such_subteam")

    @route("POST", "/conversations.open")
    def conversations_open(self, request: FakeRequest) -> FakeResponse:
        users = sorted(str(request.arg("users", "")).split(","))
        if not all(self._user("id", u) for u in users):
            return self.error("user_not_found")
        dm_id = "D" + "".join(u[1:] for u in users)
        self.channels.setdefault(dm_id, {"id": dm_id, "name": "", "members": users, "im": True})
        return self.ok(channel={"id": dm_id})

    @route("POST", "/chat.postMessage")
    def chat_post_message(self, request: FakeRequest) -> FakeResponse:
        body = request.form()
        if body.get("channel") not in self.channels:
            return self.error("channel_not_found")
        ts = f"1700000000.{next(self._ts):06d}"
        self.messages.append({**body, "ts": ts})
        return self.ok(channel=body["channel"], ts=ts, message={"text": body.get("text")})

    @route("POST", "/chat.update")
    def chat_update(self, request: FakeRequest) -> FakeResponse:
        body = request.form()
        for message in self.messages:
            if message["channel"] == body.get("channel") and message["ts"] == body.get("ts"):
                message.update(text=body.get("text"), blocks=body.get("blocks"))
                self.updates.append(body)
                return self.ok(channel=body["channel"], ts=body["ts"], text=body.get("text"))
        return self.error("message_not_found")

    @route("POST", "/chat.postEphemeral")
    def chat_post_ephemeral(self, request: FakeRequest) -> FakeResponse:
        body = request.form()
        if body.get("channel") not in self.channels:
            return self.error("channel_not_found")
        self.ephemerals.append(body)
        return self.ok(message_ts=f"1700000000.{next(self._ts):06d}")

    @route("POST", "/views.open")
    def views_open(self, request: FakeRequest) -> FakeResponse:
        body = request.form()
        view = body.get("view")
        if not body.get("trigger_id"):
            return self.error("invalid_trigger_id")
        if not isinstance(view, dict) or view.get("type") != "modal" or not view.get("blocks"):
            return self.error("invalid_arguments")
        self.views.append(body)
        return self.ok(view={**view, "id": f"V{len(self.views):04d}"})

    @route("POST", "/response/(?P<name>[A-Za-z0-9_-]+)")
    def response(self, request: FakeRequest) -> FakeResponse:
        self.responses.append({"name": request.match["name"], **request.form()})
        return FakeResponse(200, None)


# -- what Slack sends to an app ------------------------------------------------------------


def slack_signature(body: bytes, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """``X-Slack-Signature``: v0, HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    signed = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signed_form(
    form: dict[str, str], timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> tuple[bytes, dict[str, str]]:
    """A form body as Slack posts it, and its signed headers."""
    body = urlencode(form).encode()
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": str(sent_at),
        "X-Slack-Signature": slack_signature(body, sent_at, secret),
    }
    return body, headers


def trigger_id() -> str:
    return f"{next(_triggers)}.{int(time.time())}.a1b2c3"


def button_click(
    fake: FakeSlack, action: str, value: str, user: str, channel: str, team: str
) -> dict[str, str]:
    """The form of a ``block_actions`` interaction: ``user`` clicked button ``action``."""
    trigger = trigger_id()
    payload = {
        "type": "block_actions",
        "team": {"id": team, "domain": "acme"},
        "user": {"id": user, "team_id": team},
        "api_app_id": "A0APP",
        "trigger_id": trigger,
        "response_url": fake.response_url(f"r{trigger.split('.')[0]}"),
        "container": {"type": "message", "channel_id": channel, "message_ts": "1"},
        "channel": {"id": channel, "name": "access-requests"},
        "actions": [
            {
                "type": "button",
                "action_id": action,
                "block_id": "decision",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }
    return {"payload": json.dumps(payload)}
