"""What a request is for (``sym.sdk.target``): one of the flow's ``[[targets]]``."""

from __future__ import annotations

from typing import Any

from .resource import SRN


class AccessTarget:
    """A target: ``name``, ``label``, ``type`` and its ``settings`` from ``flow.toml``."""

    def __init__(
        self, name: str, type: str = "custom", label: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        self._name = name
        self._type = type
        self._label = label
        self._settings = dict(settings or {})

    @property
    def name(self) -> str:
        return self._name

    @property
    def label(self) -> str | None:
        return self._label

    @property
    def type(self) -> str:
        return self._type

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self._settings)

    @property
    def srn(self) -> SRN:
        return SRN("hookrunner", "access_target", self._type, self._name, "latest")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AccessTarget) and (other.name, other.type) == (
            self._name,
            self._type,
        )

    def __hash__(self) -> int:
        return hash((self._name, self._type))

    def __str__(self) -> str:
        return self._label or self._name

    def __repr__(self) -> str:
        return f"AccessTarget({self._name!r}, type={self._type!r})"


__all__ = ["AccessTarget"]
