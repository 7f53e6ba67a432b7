"""AWS Lambda (``sym.sdk.integrations.aws_lambda``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ..event import Event
from ._call import call_integration


def invoke(arn: str, payload: Event | dict[str, Any] | None = None) -> Any:
    return call_integration("aws_lambda", "invoke", arn=arn, payload=payload)


def invoke_async(arn: str, payload: Event | dict[str, Any] | None = None) -> bool:
    return bool(call_integration("aws_lambda", "invoke_async", arn=arn, payload=payload))


__all__ = ["invoke", "invoke_async"]
