"""The approval template (``sym:template:approval``): the directives its hooks return."""

from __future__ import annotations

from enum import Enum
from typing import Any

from ..resource import SRN
from .template import Directive, Template


class ApprovalTemplateStep(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    PROMPT = "prompt"
    REQUEST = "request"
    REQUEST_FORWARD = "request_forward"
    REQUEST_EXPIRE = "request_expire"
    APPROVE = "approve"
    DENY = "deny"
    ESCALATE = "escalate"
    DEESCALATE = "deescalate"


class ApprovalTemplate(Template):
    """Return ``ApprovalTemplate.<step>(…)`` from a hook to fire that step instead."""

    @classmethod
    def prompt(cls, **kwargs: Any) -> Directive:
        return Directive(ApprovalTemplateStep.PROMPT.value, **kwargs)

    @classmethod
    def request(
        cls, *, target_srn: SRN | None = None, duration: int | None = None, **kwargs: Any
    ) -> Directive:
        return Directive(
            ApprovalTemplateStep.REQUEST.value, target_srn=target_srn, duration=duration, **kwargs
        )

    @classmethod
    def approve(
        cls, *, target_srn: SRN | None = None, duration: int | None = None, **kwargs: Any
    ) -> Directive:
        return Directive(
            ApprovalTemplateStep.APPROVE.value, target_srn=target_srn, duration=duration, **kwargs
        )

    @classmethod
    def deny(
        cls, *, target_srn: SRN | None = None, duration: int | None = None, **kwargs: Any
    ) -> Directive:
        return Directive(
            ApprovalTemplateStep.DENY.value, target_srn=target_srn, duration=duration, **kwargs
        )

    @classmethod
    def escalate(
        cls, *, target_srn: SRN | None = None, duration: int | None = None, **kwargs: Any
    ) -> Directive:
        return Directive(
            ApprovalTemplateStep.ESCALATE.value, target_srn=target_srn, duration=duration, **kwargs
        )

    @classmethod
    def deescalate(cls, *, target_srn: SRN | None = None, **kwargs: Any) -> Directive:
        return Directive(ApprovalTemplateStep.DEESCALATE.value, target_srn=target_srn, **kwargs)


__all__ = ["ApprovalTemplate", "ApprovalTemplateStep"]
