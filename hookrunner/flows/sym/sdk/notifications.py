"""Where a new request is announced: the ``get_request_notifications`` reducer's answer."""

from __future__ import annotations

from typing import Any

from .exceptions import SDKError
from .request_destination import RequestDestination, SlackRequestDestination, SlackUser
from .user import User


class Notification:
    """One announcement: its destinations (at most one in Slack) and an optional timeout."""

    def __init__(
        self, destinations: list[RequestDestination | User], timeout: int | None = None
    ) -> None:
        destinations = list(destinations)
        if not destinations:
            raise SDKError("INVALID_NOTIFICATION", "a Notification needs at least one destination")
        for destination in destinations:
            if not isinstance(destination, (RequestDestination, User)):
                raise SDKError("INVALID_NOTIFICATION", f"{destination!r} is not a destination")
        slack = [d for d in destinations if isinstance(d, SlackRequestDestination)]
        if len(slack) > 1:
            raise SDKError(
                "INVALID_NOTIFICATION", "only one Slack destination is allowed per Notification"
            )
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int)):
            raise SDKError("INVALID_NOTIFICATION", f"timeout must be whole seconds: {timeout!r}")
        self.destinations = destinations
        self.timeout = timeout

    def _to_wire(self) -> dict[str, Any]:
        destinations = [
            SlackUser(email=d.email)._to_wire() if isinstance(d, User) else d._to_wire()
            for d in self.destinations
        ]
        return {"destinations": destinations, "timeout": self.timeout}

    def __repr__(self) -> str:
        return f"Notification({self.destinations!r}, timeout={self.timeout!r})"


__all__ = ["Notification"]
