"""Templates and the directive a hook returns to steer its flow."""

from __future__ import annotations

import datetime
from enum import Enum
from typing import Any

from ..resource import SRN, SymResource


class TemplateStep(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    IGNORE = "ignore"


class Directive:
    """What a template method returns: fire ``event`` instead, or ``ignore`` with a message."""

    def __init__(
        self,
        event: str,
        message: str | None = None,
        target_srn: SRN | str | None = None,
        duration: int | datetime.timedelta | str | None = None,
        **fields: Any,
    ) -> None:
        self.event = event
        self.message = message
        self.fields = dict(fields)
        if target_srn is not None:
            self.fields["target_srn"] = str(target_srn)
        if isinstance(duration, datetime.timedelta):
            duration = int(duration.total_seconds())
        if duration is not None:
            self.fields["duration"] = duration

    def __repr__(self) -> str:
        return f"Directive({self.event!r}, message={self.message!r}, fields={self.fields!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Directive) and repr(other) == repr(self)

    def __hash__(self) -> int:
        return hash(repr(self))


class Template(SymResource):
    """A workflow template; every template can ``ignore`` an event."""

    @classmethod
    def ignore(cls, *, message: str | None = None, **kwargs: Any) -> Directive:
        """Cancel the incoming event; ``message`` goes back to whoever fired it."""
        return Directive(TemplateStep.IGNORE.value, message=message, **kwargs)


__all__ = ["Directive", "Template", "TemplateStep"]
