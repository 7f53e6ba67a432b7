"""Secrets a flow reads (``sym.sdk.secret``); their values come through ``call_integration``.

A custom integration's secrets (``[integrations.<name>] secrets``) reach the flow as
``Secret`` objects in that integration's ``settings``; their source names the integration,
and the daemon reads the file only when ``retrieve_value()`` asks for it.
"""

from __future__ import annotations

from typing import Any

from .integrations._call import call_integration

# The source of a secret a custom integration holds: ``settings["integration"]`` names it.
INTEGRATION_SOURCE = "hookrunner_integration"


class SecretSource:
    """Where secrets live: ``type`` and ``settings``."""

    def __init__(self, type: str, settings: dict[str, Any] | None = None) -> None:
        self.type = type
        self.settings = dict(settings or {})


class Secret:
    """A named secret; ``retrieve_value()`` asks the daemon for it."""

    def __init__(
        self, id: str, path: str, source: SecretSource, settings: dict[str, Any] | None = None
    ) -> None:
        self.id = id
        self.path = path
        self.source = source
        self.settings = dict(settings or {})

    @classmethod
    def of_integration(cls, integration: str, name: str) -> Secret:
        """The secret ``name`` of the custom integration ``integration``."""
        source = SecretSource(INTEGRATION_SOURCE, {"integration": integration})
        return cls(f"{integration}.{name}", name, source)

    def retrieve_value(self) -> str:
        integration = self.source.settings.get("integration")
        if self.source.type == INTEGRATION_SOURCE and isinstance(integration, str):
            value = call_integration(integration, "retrieve_secret", name=self.path)
        else:
            value = call_integration("secrets", "retrieve_value", path=self.path)
        return str(value)

    def __repr__(self) -> str:
        return f"Secret({self.id!r})"


__all__ = ["Secret", "SecretSource"]
