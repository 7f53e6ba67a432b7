"""A ``type = "custom"`` integration: settings for the flow, and secrets it reads on purpose."""

from __future__ import annotations

from typing import Any

from hookrunner.config import IntegrationSettings, secret_path
from hookrunner.integrations.errors import SymIntegrationError


class CustomIntegration:
    hook_functions = frozenset({"get_settings", "retrieve_secret"})

    def __init__(self, name: str, settings: IntegrationSettings) -> None:
        self.name = name
        self.settings = settings

    def get_settings(self) -> dict[str, Any]:
        """What the SDK's ``Integration`` shows: type, external_id, settings (no secrets)."""
        return {
            "type": self.settings.type,
            "external_id": self.settings.external_id,
            "settings": dict(self.settings.settings),
        }

    def retrieve_secret(self, name: str) -> str:
        """``Secret.retrieve_value()``: the file ``secrets.<name>`` names, read now."""
        file_name = self.settings.secrets.get(name)
        if not file_name:
            raise SymIntegrationError(
                f"[integrations.{self.name}] has no secrets.{name}", integration=self.name
            )
        try:
            return secret_path(file_name).read_text().strip()
        except OSError as exc:
            raise SymIntegrationError(
                f"[integrations.{self.name}] secrets.{name} cannot be read ({exc.strerror})",
                integration=self.name,
            ) from None

    def close(self) -> None:
        """Nothing is held open."""
