"""Custom strategies: a class in ``impl.py`` that grants and removes access itself."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

from ..exceptions import IdentityNotFound
from ..user import User
from ..utils import persist_user_identity
from .integration import Integration

if TYPE_CHECKING:
    from ..event import Event


class AccessStrategy(abc.ABC):
    """Subclass it and define ``fetch_remote_identity``, ``escalate`` and ``deescalate``."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration

    def get_requester_identity(self, event: Event) -> str:
        """The requester's id in this strategy's integration: known, else fetched."""
        requester = event.get_actor("request") or event.payload.user
        known = requester.identity(self.integration.type, self.integration.external_id)
        if known is not None:
            return known.user_id
        fetched = self.fetch_remote_identity(requester)
        if not fetched:
            raise IdentityNotFound(
                email=requester.email, service_id=str(self.integration.external_id)
            )
        persist_user_identity(
            email=requester.email,
            service=self.integration.type,
            service_id=str(self.integration.external_id),
            user_id=fetched,
        )
        return str(fetched)

    @abc.abstractmethod
    def fetch_remote_identity(self, user: User) -> str | None:
        """The user's id in the remote service, or ``None`` if it cannot be found."""

    @abc.abstractmethod
    def escalate(self, target_id: str, event: Event) -> dict[str, Any] | None:
        """Grant access to ``target_id``; the dict returned is this step's output."""

    @abc.abstractmethod
    def deescalate(self, target_id: str, event: Event) -> dict[str, Any] | None:
        """Remove the access ``escalate`` granted."""


__all__ = ["AccessStrategy"]
