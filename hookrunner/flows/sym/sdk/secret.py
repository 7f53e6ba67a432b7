"""Secrets a flow reads (``sym.sdk.secret``); their values come through ``call_integration``."""

from __future__ import annotations

from typing import Any

from .integrations._call import call_integration


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

    def retrieve_value(self) -> str:
        value: str = call_integration("secrets", "retrieve_value", path=self.path)
        return value


__all__ = ["Secret", "SecretSource"]
