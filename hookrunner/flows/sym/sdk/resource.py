"""Sym Resource Names (``org:model[:type]:slug:version[:identifier]``) and named resources."""

from __future__ import annotations

import re
from typing import Any

from .errors import SymSDKError

SRN_DOCS = "https://docs.symops.com/docs/srns"


class InvalidSRNError(SymSDKError):
    """A string is not a valid SRN."""

    def __init__(self, srn: str, hint: str | None = None) -> None:
        super().__init__(
            f"{srn!r} is not a valid SRN",
            hint or "an SRN looks like org:model:slug:version[:identifier]",
            SRN_DOCS,
        )
        self.srn = srn


class InvalidSlugError(InvalidSRNError):
    def __init__(self, srn: str, component: str, value: str) -> None:
        super().__init__(srn, f"its {component} {value!r} must match [a-zA-Z0-9-_]+")


class MissingComponentError(InvalidSRNError):
    def __init__(self, srn: str, component: str) -> None:
        super().__init__(srn, f"it has no {component}")


class InvalidVersionError(InvalidSRNError):
    def __init__(self, srn: str, component: str, value: str) -> None:
        super().__init__(srn, f"its {component} {value!r} must be 'latest' or x.y.z")


class TrailingSeparatorError(InvalidSRNError):
    def __init__(self, srn: str) -> None:
        super().__init__(srn, "it ends with ':'")


class MultipleErrors(InvalidSRNError):
    """Every problem of one SRN, raised together by :meth:`check`."""

    def __init__(self, srn: str) -> None:
        super().__init__(srn)
        self.errors: list[InvalidSRNError] = []

    def add(self, exc: InvalidSRNError) -> None:
        self.errors.append(exc)

    def check(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            self.hint = "; ".join(error.hint for error in self.errors)
            raise self


class SRN:
    """A parsed SRN; components are ``organization``, ``model``, ``type``, ``slug``, …"""

    SEPARATOR = ":"
    SLUG_PATTERN = re.compile(r"^[a-zA-Z0-9-_]+$")
    VERSION_PATTERN = re.compile(r"^(latest|[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})$")
    _MODELS_WITH_TYPES = frozenset(
        {"access_strategy", "access_target", "user", "secret", "secrets", "integration",
         "log_destination"}
    )  # fmt: skip

    def __init__(
        self,
        org: str,
        model: str,
        type: str | None,
        slug: str,
        version: str,
        identifier: str | None = None,
    ) -> None:
        self._org = org
        self._model = model
        self._type = type
        self._slug = slug
        self._version = version
        self._identifier = identifier
        self._validate()

    @classmethod
    def parse(cls, raw: str) -> SRN:
        if not isinstance(raw, str):
            raise InvalidSRNError(str(raw), "an SRN is a string")
        if raw.endswith(cls.SEPARATOR):
            raise TrailingSeparatorError(raw)
        parts = raw.split(cls.SEPARATOR)
        if len(parts) < 4:
            raise MissingComponentError(raw, "slug or version")
        org, model, *rest = parts
        typed = cls.requires_type(model)
        type_ = rest.pop(0) if typed else None
        if len(rest) < 2:
            raise MissingComponentError(raw, "version")
        if len(rest) > 3:
            raise InvalidSRNError(raw, "it has too many components")
        slug, version, *identifier = rest
        try:
            return cls(org, model, type_, slug, version, identifier[0] if identifier else None)
        except InvalidSRNError as error:
            error.srn = raw
            raise

    @classmethod
    def requires_type(cls, model: str) -> bool:
        return model in cls._MODELS_WITH_TYPES

    def _validate(self) -> None:
        errors = MultipleErrors(str(self))
        for name in ("org", "model", "type", "slug"):
            value = getattr(self, f"_{name}")
            if value is None and name == "type" and not self.requires_type(self._model):
                continue
            if not value:
                errors.add(MissingComponentError(str(self), name))
            elif not self.SLUG_PATTERN.match(value):
                errors.add(InvalidSlugError(str(self), name, value))
        if not self.VERSION_PATTERN.match(self._version or ""):
            errors.add(InvalidVersionError(str(self), "version", self._version))
        errors.check()

    def copy(
        self,
        organization: str | None = None,
        model: str | None = None,
        type: str | None = None,
        slug: str | None = None,
        version: str | None = None,
        identifier: str | None = None,
    ) -> SRN:
        return SRN(
            organization or self._org,
            model or self._model,
            type or self._type,
            slug or self._slug,
            version or self._version,
            identifier or self._identifier,
        )

    @property
    def organization(self) -> str:
        return self._org

    @property
    def model(self) -> str:
        return self._model

    @property
    def type(self) -> str | None:
        return self._type

    @property
    def slug(self) -> str:
        return self._slug

    @property
    def version(self) -> str:
        return self._version

    @property
    def identifier(self) -> str | None:
        return self._identifier

    def __str__(self) -> str:
        parts = [self._org, self._model, self._type, self._slug, self._version, self._identifier]
        return self.SEPARATOR.join(part for part in parts if part is not None)

    def __repr__(self) -> str:
        return f"SRN({str(self)!r})"

    def __hash__(self) -> int:
        return hash(str(self))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SRN) and str(other) == str(self)


class SymBaseResource:
    """Something a flow can print and compare."""

    def __str__(self) -> str:
        return repr(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def dict(self) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in dir(type(self))
            if not name.startswith("_") and isinstance(getattr(type(self), name), property)
        }


class SymResource(SymBaseResource):
    """A resource named by an SRN; ``name`` is its slug."""

    def __init__(self, srn: SRN | str) -> None:
        self._srn = srn if isinstance(srn, SRN) else SRN.parse(srn)

    @property
    def srn(self) -> SRN:
        return self._srn

    @property
    def name(self) -> str:
        return self._srn.slug

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymResource) and other.srn == self.srn

    def __hash__(self) -> int:
        return hash(self._srn)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._srn})"


__all__ = [
    "SRN",
    "InvalidSRNError",
    "InvalidSlugError",
    "InvalidVersionError",
    "MissingComponentError",
    "MultipleErrors",
    "SymBaseResource",
    "SymResource",
    "TrailingSeparatorError",
]
