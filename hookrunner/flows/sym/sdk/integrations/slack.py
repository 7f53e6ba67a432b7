"""Slack (``sym.sdk.integrations.slack``): destinations are built here; messages need Slack."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..exceptions import SlackError
from ..request_destination import (
    RequestDestination,
    RequestDestinationFallback,
    SlackChannelID,
    SlackChannelName,
    SlackUser,
    SlackUserGroup,
)
from ..user import User
from ._call import call_integration, users

CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{6,}$")
USER_ID = re.compile(r"^[UW][A-Z0-9]{6,}$")


def user(identifier: str | User, allow_self: bool = False, timeout: int | None = None) -> SlackUser:
    """A direct message to one person: a ``User``, an e-mail or a Slack user id."""
    if isinstance(identifier, User):
        return SlackUser(email=identifier.email, allow_self=allow_self, timeout=timeout)
    text = str(identifier).strip()
    if USER_ID.match(text):
        return SlackUser(text, allow_self, timeout)
    if "@" in text:
        return SlackUser(email=text, allow_self=allow_self, timeout=timeout)
    raise SlackError("INVALID_USER", f"{identifier!r} is neither an e-mail nor a Slack user id")


def mention(identifier: str | User) -> str:
    """Text that mentions the person in a Slack message."""
    return user(identifier).mention()


def channel(
    name: str, allow_self: bool = False, timeout: int | None = None
) -> SlackChannelID | SlackChannelName:
    """A channel by name (``#ops``) or id (``C0123456``)."""
    text = str(name).strip()
    if CHANNEL_ID.match(text):
        return SlackChannelID(text, allow_self, timeout)
    return SlackChannelName(text, allow_self, timeout)


def _conversation(value: SlackChannelID | SlackChannelName | str) -> str:
    """A channel as the daemon names it: its id, or ``#name``."""
    destination = channel(value) if isinstance(value, str) else value
    if isinstance(destination, SlackChannelID):
        return destination.channel_id
    return destination.channel_name


def group(
    users: Sequence[str | User], allow_self: bool = False, timeout: int | None = None
) -> SlackUserGroup:
    """A group direct message to up to seven people."""
    return SlackUserGroup([user(person) for person in users], allow_self, timeout)


def fallback(
    *destinations: RequestDestination,
    continue_on_delivery_failure: bool | None = True,
    continue_on_timeout: bool | None = False,
) -> RequestDestinationFallback:
    """Try ``destinations`` in order."""
    return RequestDestinationFallback(
        list(destinations), bool(continue_on_delivery_failure), bool(continue_on_timeout)
    )


def send_message(destination: User | RequestDestination, message: str) -> None:
    if isinstance(destination, User):
        destination = user(destination)
    call_integration("slack", "send_message", destination=destination, message=message)


def send_thread_message(message: str) -> None:
    call_integration("slack", "send_thread_message", message=message)


def get_user_info(user: User) -> dict[str, Any]:
    info: dict[str, Any] = call_integration("slack", "get_user_info", user=user)
    return info


def list_users(active_only: bool = True) -> list[Any]:
    users: list[Any] = call_integration("slack", "list_users", active_only=active_only)
    return users


def is_user_in_group(user: User, *, group_id: str) -> bool:
    return bool(call_integration("slack", "is_user_in_group", user=user, group_id=group_id))


def users_in_channel(channel: SlackChannelID | SlackChannelName | str) -> list[User]:
    answer = call_integration("slack", "users_in_channel", channel=_conversation(channel))
    return users(answer, "slack")


__all__ = [
    "channel",
    "fallback",
    "get_user_info",
    "group",
    "is_user_in_group",
    "list_users",
    "mention",
    "send_message",
    "send_thread_message",
    "user",
    "users_in_channel",
]
