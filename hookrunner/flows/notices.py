"""What the engine tells whoever announces requests (Slack approvals, DESIGN §12).

The engine knows nothing of Slack: it hands each new request's destinations to a
:class:`Notifier`, and tells it after every transition. The notifier must not block or
fail a decision: it journals what is to be said and delivers it later.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from hookrunner.journal import RequestRecord


class Announcement(NamedTuple):
    """Where a new request is to be announced, and what its messages may offer."""

    destinations: list[dict[str, Any]]  # the contract's destination documents
    integrations: list[str]  # the flow's integration names: which Slack to use
    allow_revoke: bool


class Notifier(Protocol):
    def delivers(self, integrations: list[str]) -> bool:
        """Whether announcements of a flow with these integrations go anywhere."""
        ...

    async def opened(self, record: RequestRecord, announcement: Announcement) -> None:
        """A request was recorded; announce it (journal it, deliver in the background)."""
        ...

    async def transitioned(self, record: RequestRecord) -> None:
        """``record`` changed state; bring what was said about it up to date."""
        ...


class Silent:
    """No delivery: notifications are only recorded in the request's history."""

    def delivers(self, integrations: list[str]) -> bool:
        return False

    async def opened(self, record: RequestRecord, announcement: Announcement) -> None:
        return None

    async def transitioned(self, record: RequestRecord) -> None:
        return None
