"""An integration a flow may use (``flow.environment.integrations[name]``)."""

from __future__ import annotations

from typing import Any


class Integration:
    """One configured integration: ``type`` (``slack``), ``external_id``, ``settings``."""

    def __init__(
        self, type: str, external_id: str | None = None, settings: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:  # fmt: skip
        self._type = type
        self._external_id = external_id
        self._settings = dict(settings or {})
        self._name = name or type

    @property
    def type(self) -> str:
        return self._type

    @property
    def external_id(self) -> str | None:
        return self._external_id

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    @property
    def name(self) -> str:
        return self._name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Integration) and (other.type, other.external_id) == (
            self._type,
            self._external_id,
        )

    def __hash__(self) -> int:
        return hash((self._type, self._external_id))

    def __repr__(self) -> str:
        return f"Integration({self._type!r}, external_id={self._external_id!r})"


__all__ = ["Integration"]
