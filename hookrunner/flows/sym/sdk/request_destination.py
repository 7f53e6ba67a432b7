"""Where a request is announced, and whose members may approve it (``slack.channel`` & co)."""

from __future__ import annotations

from typing import Any

from .exceptions import SDKError


def _invalid(message: str) -> SDKError:
    return SDKError("INVALID_DESTINATION", message)


class RequestDestination:
    """A place to send a request. ``allow_self``: may the requester approve from there."""

    def __init__(self, allow_self: bool = False, timeout: int | None = None) -> None:
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
            raise _invalid(f"timeout must be whole seconds, not {timeout!r}")
        self.allow_self = bool(allow_self)
        self.timeout = timeout

    @classmethod
    def parse_obj(cls, obj: Any) -> RequestDestination:
        """The destination a dict describes (``{"channel_name": "#ops"}``, …), as Sym parses."""
        if isinstance(obj, RequestDestination):
            return obj
        if not isinstance(obj, dict):
            raise _invalid(f"cannot parse a destination from {obj!r}")
        kinds: list[tuple[str, Any]] = [
            ("channel_name", SlackChannelName),
            ("channel_id", SlackChannelID),
            ("user_id", SlackUser),
            ("email", SlackUser),
            ("users", SlackUserGroup),
        ]
        for key, kind in kinds:
            if key in obj:
                if kind is SlackUserGroup:
                    obj = {**obj, "users": [SlackUser.parse_obj(user) for user in obj["users"]]}
                destination: RequestDestination = kind(**obj)
                return destination
        raise _invalid(f"unknown type of destination: {obj!r}")

    def _to_wire(self) -> dict[str, Any]:
        """The destination as the daemon reads it (the contract's ``D``)."""
        raise _invalid(f"{type(self).__name__} is not a destination hookrunner can use")

    def _common(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **fields, "allow_self": self.allow_self, "timeout": self.timeout}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._to_wire()!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and repr(other) == repr(self)

    def __hash__(self) -> int:
        return hash(repr(self))


class SlackRequestDestination(RequestDestination):
    """A destination in Slack."""


class SlackChannelID(SlackRequestDestination):
    """A Slack channel by id (``C…``, ``D…`` or ``G…``)."""

    def __init__(self, channel_id: str, allow_self: bool = False, timeout: int | None = None):
        super().__init__(allow_self, timeout)
        channel_id = str(channel_id).strip()
        if not channel_id or channel_id[0] not in "CDG":
            raise _invalid(f"{channel_id!r} is not a Slack channel id (C…, D… or G…)")
        self.channel_id = channel_id

    def _to_wire(self) -> dict[str, Any]:
        return self._common("slack_channel_id", id=self.channel_id)

    def __str__(self) -> str:
        return f"SlackChannelID '{self.channel_id}'"


class SlackChannelName(SlackRequestDestination):
    """A Slack channel by name (``#ops``)."""

    def __init__(self, channel_name: str, allow_self: bool = False, timeout: int | None = None):
        super().__init__(allow_self, timeout)
        channel_name = str(channel_name).strip()
        if not channel_name.lstrip("#"):
            raise _invalid("a Slack channel name must be non-empty")
        self.channel_name = channel_name if channel_name.startswith("#") else f"#{channel_name}"

    def _to_wire(self) -> dict[str, Any]:
        return self._common("slack_channel", name=self.channel_name)

    def __str__(self) -> str:
        return f"SlackChannelName '{self.channel_name}'"


class SlackUser(SlackRequestDestination):
    """A direct message to one person: a Slack user id (``U…``/``W…``) or their e-mail."""

    def __init__(
        self,
        user_id: str | None = None,
        allow_self: bool = False,
        timeout: int | None = None,
        *,
        email: str | None = None,
    ) -> None:
        super().__init__(allow_self, timeout)
        if (user_id is None) == (email is None):
            raise _invalid("a SlackUser has either a user_id or an email")
        if user_id is not None:
            user_id = str(user_id).strip()
            if not user_id or user_id[0] not in "UW":
                raise _invalid(f"{user_id!r} is not a Slack user id (U… or W…)")
        elif "@" not in str(email):
            raise _invalid(f"{email!r} is not an e-mail address")
        self.user_id = user_id
        self.email = email

    def mention(self) -> str:
        return f"<@{self.user_id}>" if self.user_id else str(self.email)

    def _to_wire(self) -> dict[str, Any]:
        if self.user_id is not None:
            return self._common("slack_user", id=self.user_id)
        return self._common("slack_user", email=self.email)

    def __str__(self) -> str:
        return f"SlackUser '{self.user_id or self.email}'"


class SlackUserGroup(SlackRequestDestination):
    """A group direct message to 1-7 people; the group's ``allow_self`` wins over theirs."""

    def __init__(
        self, users: list[SlackUser], allow_self: bool = False, timeout: int | None = None
    ) -> None:
        super().__init__(allow_self, timeout)
        users = list(users)
        if not 1 <= len(users) <= 7 or not all(isinstance(user, SlackUser) for user in users):
            raise _invalid("a SlackUserGroup holds 1 to 7 SlackUser destinations")
        self.users = users

    def _to_wire(self) -> dict[str, Any]:
        members = [{**user._to_wire(), "allow_self": self.allow_self} for user in self.users]
        return self._common("slack_group", users=members)

    def __str__(self) -> str:
        return f"SlackUserGroup '{[str(user) for user in self.users]}'"


class RequestDestinationFallback:
    """Destinations tried in order, moving on after a delivery failure or a timeout."""

    def __init__(
        self,
        destinations: list[RequestDestination],
        continue_on_delivery_failure: bool = True,
        continue_on_timeout: bool = False,
    ) -> None:
        destinations = list(destinations)
        if not destinations or not all(
            isinstance(destination, RequestDestination) for destination in destinations
        ):
            raise _invalid("a fallback holds one or more destinations")
        self.destinations = destinations
        self.continue_on_delivery_failure = bool(continue_on_delivery_failure)
        self.continue_on_timeout = bool(continue_on_timeout)

    def _to_wire(self) -> dict[str, Any]:
        return {
            "type": "fallback",
            "destinations": [destination._to_wire() for destination in self.destinations],
            "continue_on_delivery_failure": self.continue_on_delivery_failure,
            "continue_on_timeout": self.continue_on_timeout,
        }

    def __repr__(self) -> str:
        return f"RequestDestinationFallback({self._to_wire()!r})"


class RequestForwardContext:
    """Where a forwarded request is now, among all its destinations."""

    def __init__(
        self,
        all_request_destinations: list[RequestDestination],
        current_destination_index: int,
        next_destination_index: int | None = None,
    ) -> None:
        self.all_request_destinations = list(all_request_destinations)
        self.current_destination_index = current_destination_index
        self.next_destination_index = next_destination_index


__all__ = [
    "RequestDestination",
    "RequestDestinationFallback",
    "RequestForwardContext",
    "SlackChannelID",
    "SlackChannelName",
    "SlackRequestDestination",
    "SlackUser",
    "SlackUserGroup",
]
