"""Slack Web API: people, channels, user groups and messages for flows and approvals.

Reads go out as GET with query parameters (cacheable), writes as JSON bodies. Slack
answers HTTP 200 with ``{"ok": false, "error": "<code>"}`` for most failures, so the
body, not the status, decides. Destinations are the contract's documents
(``{"type": "slack_channel", "name": "#ops", "allow_self": false}`` …).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx

from hookrunner.integrations.errors import IntegrationError, SlackError
from hookrunner.integrations.http import ApiClient, Params
from hookrunner.integrations.people import person

PAGE_SIZE = 200
T = TypeVar("T")


class SlackClient(ApiClient):
    error_class = SlackError
    default_url = "https://slack.com/api/"
    hook_functions = frozenset(
        {
            "resolve_destination",
            "send_message",
            "get_user_info",
            "list_users",
            "users_in_channel",
            "is_user_in_group",
            "mention",
        }
    )

    def auth_headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def error_for(self, response: httpx.Response) -> IntegrationError | None:
        if response.status_code == 429 or response.status_code >= 500:
            return super().error_for(response)
        try:
            body = response.json()
        except ValueError:
            return super().error_for(response)
        if isinstance(body, dict) and body.get("ok") is True:
            return None
        code = str(body.get("error", "unknown_error")) if isinstance(body, dict) else "bad_body"
        return SlackError(
            f"{self.name}: Slack said {code}",
            integration=self.name,
            status=response.status_code,
            code=code,
        )

    # -- Web API methods ---------------------------------------------------------------

    def call(self, method: str, params: Params | None = None) -> dict[str, Any]:
        """A read method, cached."""
        body: dict[str, Any] = self.get(method, params).body
        return body

    def post(self, method: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A write method, with a JSON body."""
        body: dict[str, Any] = self.request("POST", method, json=dict(payload)).body
        return body

    def paginate(self, method: str, key: str, params: Mapping[str, Any]) -> Iterator[Any]:
        """Every item under ``key``, following ``response_metadata.next_cursor``."""
        cursor = ""
        for _ in self.page_budget(method):
            query = {**params, "limit": PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
            body = self.call(method, query)
            yield from body.get(key, [])
            cursor = (body.get("response_metadata") or {}).get("next_cursor", "")
            if not cursor:
                return

    # -- people ------------------------------------------------------------------------

    def lookup(self, identifier: str) -> dict[str, Any]:
        """A Slack user from an e-mail, a user id (``U…``/``W…``) or an ``@name``."""
        if identifier.startswith("@"):
            name = identifier[1:].lower()
            for member in self.paginate("users.list", "members", {}):
                profile = member.get("profile", {})
                names = {
                    str(member.get("name", "")).lower(),
                    str(profile.get("display_name", "")).lower(),
                    str(profile.get("real_name", "")).lower(),
                }
                if name in names:
                    return dict(member)
            raise SlackError(
                f"{self.name}: no Slack user is called {identifier}",
                integration=self.name,
                code="users_not_found",
            )
        if "@" in identifier:
            user = self.call("users.lookupByEmail", {"email": identifier})["user"]
        else:
            user = self.call("users.info", {"user": identifier})["user"]
        return dict(user)

    def email_of(self, user_id: str) -> str | None:
        """The e-mail of a Slack user id; None for bots and users without one."""
        user = self.call("users.info", {"user": user_id})["user"]
        if user.get("is_bot") or user.get("deleted"):
            return None
        email = user.get("profile", {}).get("email")
        return str(email) if email else None

    def get_user_info(self, user: str) -> dict[str, Any]:
        return self.lookup(user)

    def list_users(self, active_only: bool = True) -> list[dict[str, Any]]:
        return [
            dict(member)
            for member in self.paginate("users.list", "members", {})
            if not (active_only and member.get("deleted"))
        ]

    def mention(self, user: str) -> str:
        return f"<@{self.lookup(user)['id']}>"

    # -- channels and groups -----------------------------------------------------------

    def channel_id(self, channel: str) -> str:
        """A conversation id from ``#name`` (looked up) or an id (as is)."""
        if not channel.startswith("#"):
            return channel
        name = channel[1:]
        params = {"types": "public_channel,private_channel", "exclude_archived": "true"}
        for conversation in self.paginate("conversations.list", "channels", params):
            if conversation.get("name") == name:
                return str(conversation["id"])
        raise SlackError(
            f"{self.name}: no channel {channel} (is the app a member?)",
            integration=self.name,
            code="channel_not_found",
        )

    def usergroup_id(self, group: str) -> str:
        """A user group id from its id (``S…``) or its handle (``ops`` or ``@ops``)."""
        handle = group.removeprefix("@")
        for usergroup in self.call("usergroups.list", {}).get("usergroups", []):
            if handle in (usergroup.get("id"), usergroup.get("handle")):
                return str(usergroup["id"])
        raise SlackError(
            f"{self.name}: no user group {group}",
            integration=self.name,
            code="no_such_subteam",
        )

    def channel_member_ids(self, channel: str) -> list[str]:
        params = {"channel": self.channel_id(channel)}
        return [str(m) for m in self.paginate("conversations.members", "members", params)]

    def group_member_ids(self, group: str) -> list[str]:
        body = self.call("usergroups.users.list", {"usergroup": self.usergroup_id(group)})
        return [str(u) for u in body.get("users", [])]

    def users_in_channel(self, channel: str) -> list[dict[str, Any]]:
        return self._people(self.channel_member_ids(channel))

    def is_user_in_group(self, user: str, group_id: str) -> bool:
        return self.lookup(user)["id"] in self.group_member_ids(group_id)

    def _people(self, user_ids: list[str]) -> list[dict[str, Any]]:
        found = []
        for user_id in user_ids:
            email = self.email_of(user_id)
            if email:
                found.append(person(email, user_id))
        return found

    # -- destinations ------------------------------------------------------------------

    def resolve_destination(self, destination: Mapping[str, Any], requester: str = "") -> list[str]:
        """The e-mails a destination reaches; the requester dropped unless ``allow_self``."""
        if destination.get("type") == "fallback":
            return self._resolve_fallback(destination, requester)
        emails = [p["email"] for p in self._people(self._destination_user_ids(destination))]
        if not destination.get("allow_self", False):
            emails = [e for e in emails if e.lower() != requester.lower()]
        return sorted(set(emails))

    def _resolve_fallback(self, destination: Mapping[str, Any], requester: str) -> list[str]:
        """The people of the first destination that reaches anyone."""
        return _first(destination, lambda d: self.resolve_destination(d, requester)) or []

    def _destination_user_ids(self, destination: Mapping[str, Any]) -> list[str]:
        kind = destination.get("type")
        if kind == "slack_channel":
            return self.channel_member_ids(str(destination["name"]))
        if kind == "slack_channel_id":
            return self.channel_member_ids(str(destination["id"]))
        if kind == "slack_user":
            return [str(self.lookup(str(destination.get("email") or destination["id"]))["id"])]
        if kind == "slack_group":
            if "users" in destination:  # a group DM: slack_user destinations
                return [uid for u in destination["users"] for uid in self._member_ids(u)]
            return self.group_member_ids(str(destination["handle"]))
        raise SlackError(
            f"{self.name}: unknown destination type {kind!r}",
            integration=self.name,
            code="invalid_destination",
        )

    def _member_ids(self, member: Any) -> list[str]:
        if isinstance(member, Mapping):
            return self._destination_user_ids(member)
        return [str(self.lookup(str(member))["id"])]

    def conversation_for(self, destination: Mapping[str, Any]) -> str:
        """The conversation a message to ``destination`` goes to (opening DMs as needed)."""
        kind = destination.get("type")
        if kind == "slack_channel":
            return self.channel_id(str(destination["name"]))
        if kind == "slack_channel_id":
            return str(destination["id"])
        user_ids = self._destination_user_ids(destination)
        opened = self.post("conversations.open", {"users": ",".join(user_ids)})
        return str(opened["channel"]["id"])

    # -- messages ----------------------------------------------------------------------

    def send_message(
        self,
        destination: Mapping[str, Any],
        message: str,
        blocks: list[Any] | None = None,
    ) -> dict[str, str]:
        """Post to a destination; returns ``{"channel", "ts"}`` to thread or update it."""
        if destination.get("type") == "fallback":
            sent = _first(destination, lambda d: self.send_message(d, message, blocks))
            if sent:
                return sent
            raise SlackError(
                f"{self.name}: no destination took the message",
                integration=self.name,
                code="invalid_destination",
            )
        channel = self.conversation_for(destination)
        return self._posted(self.post("chat.postMessage", _message(channel, message, blocks)))

    def send_thread_message(self, channel: str, thread_ts: str, message: str) -> dict[str, str]:
        payload = {**_message(channel, message, None), "thread_ts": thread_ts}
        return self._posted(self.post("chat.postMessage", payload))

    def update_message(
        self, channel: str, ts: str, message: str, blocks: list[Any] | None = None
    ) -> dict[str, str]:
        payload = {**_message(channel, message, blocks), "ts": ts}
        return self._posted(self.post("chat.update", payload))

    def post_ephemeral(self, channel: str, user: str, message: str) -> None:
        user_id = self.lookup(user)["id"]
        self.post("chat.postEphemeral", {**_message(channel, message, None), "user": user_id})

    @staticmethod
    def _posted(body: Mapping[str, Any]) -> dict[str, str]:
        return {"channel": str(body["channel"]), "ts": str(body["ts"])}


def _message(channel: str, text: str, blocks: list[Any] | None) -> dict[str, Any]:
    return {"channel": channel, "text": text, **({"blocks": blocks} if blocks else {})}


def _first(destination: Mapping[str, Any], attempt: Callable[[Mapping[str, Any]], T]) -> T | None:
    """The first non-empty result over a fallback's destinations, in order.

    A destination that fails is skipped when ``continue_on_delivery_failure`` (Sym's
    default), and stops the fallback otherwise.
    """
    keep_going = destination.get("continue_on_delivery_failure", True)
    for candidate in destination.get("destinations", []):
        try:
            result = attempt(candidate)
        except SlackError:
            if not keep_going:
                raise
            continue
        if result:
            return result
    return None
