"""How a flow grants and removes access (``event.flow.strategy``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .resource import SRN
from .strategies.integration import Integration
from .target import AccessTarget

if TYPE_CHECKING:
    import uuid


class Strategy:
    """The flow's strategy: ``type`` (``runbook``, ``custom``, …), its targets and integration."""

    def __init__(
        self,
        type: str,
        name: str,
        targets: list[AccessTarget] | None = None,
        integration: Integration | None = None,
        settings: dict[str, Any] | None = None,
        label: str | None = None,
    ) -> None:
        self.type = type
        self.name = name
        self.label = label
        self.targets = list(targets or [])
        self.integration = integration
        self.settings = dict(settings or {})

    @property
    def id(self) -> uuid.UUID:
        import uuid

        return uuid.uuid5(uuid.NAMESPACE_URL, f"hookrunner:access_strategy:{self.name}")

    @property
    def srn(self) -> SRN:
        return SRN("hookrunner", "access_strategy", self.type, self.name, "latest")

    def __repr__(self) -> str:
        return f"Strategy({self.type!r}, targets={[target.name for target in self.targets]})"


__all__ = ["Strategy"]
