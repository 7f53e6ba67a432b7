"""The flow a request belongs to, its environment, and the run of one request."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .forms import PromptField
from .resource import SRN
from .strategies.integration import Integration
from .strategy import Strategy
from .target import AccessTarget
from .user import User

if TYPE_CHECKING:
    from .event import Channel


class Environment:
    """Shared settings: the ``integrations`` this flow may use, by name."""

    def __init__(self, name: str, integrations: dict[str, Integration] | None = None) -> None:
        self.name = name
        self.integrations = dict(integrations or {})

    def __repr__(self) -> str:
        return f"Environment({self.name!r}, integrations={sorted(self.integrations)})"


class Flow:
    """A flow (``flows/<slug>/``): ``srn``, prompt ``fields``, ``vars``, ``environment``, …"""

    def __init__(
        self,
        srn: SRN,
        fields: dict[str, PromptField] | None = None,
        vars: dict[str, Any] | None = None,
        environment: Environment | None = None,
        strategy: Strategy | None = None,
        targets: list[AccessTarget] | None = None,
        allow_revoke: bool = True,
    ) -> None:
        self.srn = srn
        self.fields = dict(fields or {})
        self.vars = dict(vars or {})
        self.environment = environment or Environment("hookrunner")
        self.strategy = strategy
        self.targets = list(targets or [])
        self.allow_revoke = allow_revoke

    @property
    def name(self) -> str:
        return self.srn.slug

    def __repr__(self) -> str:
        return f"Flow({self.srn})"


class Run:
    """One request's history: who fired each event (``actors``) and its ``contexts``."""

    def __init__(
        self,
        actors: dict[str, User] | None = None,
        contexts: dict[str, dict[str, Any]] | None = None,
        source_channel: Channel | None = None,
        srn: SRN | None = None,
    ) -> None:
        self.actors = dict(actors or {})
        self.contexts = dict(contexts or {})
        self.source_channel = source_channel
        self.srn = srn

    def __repr__(self) -> str:
        return f"Run({self.srn}, actors={sorted(self.actors)})"


__all__ = ["Environment", "Flow", "Run"]
