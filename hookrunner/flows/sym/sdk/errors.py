"""The SDK's base errors (``sym.sdk.errors``): every error carries a message and a hint."""

from __future__ import annotations

from enum import Enum
from typing import Any

SUPPORT_URL = "https://docs.symops.com/docs/support"


class SymSDKError(Exception):
    """The base of the SDK's own errors; ``str()`` is the message with its hint."""

    def __init__(self, message: str, hint: str, doc_url: str, **kwargs: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.doc_url = doc_url

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message

    def format_slack(self) -> str:
        return f"*{self.message}*\n\n*Hint:* {self.hint}\n\nFor more details, see: {self.doc_url}."


class SymIntegrationError(SymSDKError):
    """An integration call failed, or the integration is not available to this flow."""

    default_message = "An error occurred."
    default_hint = ""
    default_docs_url = SUPPORT_URL

    def __init__(
        self,
        message: str = "",
        hint: str | None = None,
        doc_url: str | None = None,
        *,
        error_code: Enum | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.error_code = error_code
        self.params = params
        super().__init__(
            message=message or self.default_message,
            hint=hint or self.default_hint,
            doc_url=doc_url or self.default_docs_url,
        )

    def _format(self, text: str) -> str:
        try:
            return text.format_map(self.params or {})
        except (KeyError, AttributeError, ValueError, IndexError):
            return text

    def format_slack(self) -> str:
        return self._format(super().format_slack())

    def __str__(self) -> str:
        return self._format(super().__str__())


__all__ = ["SymIntegrationError", "SymSDKError"]
