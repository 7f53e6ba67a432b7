"""One error hierarchy for every integration call.

Each class names the ``sym.sdk`` exception the hook-side SDK raises for it, so a failure
in the daemon reaches the flow as the exception Sym's own runtime would have raised.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """A failed integration call; ``sdk_exception`` is what the hook sees raised."""

    sdk_exception = "SymIntegrationError"

    def __init__(
        self, message: str, *, integration: str = "", status: int | None = None, code: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.integration = integration
        self.status = status
        self.code = code


class SymIntegrationError(IntegrationError):
    """The integration is missing, misconfigured, or was called with bad arguments."""


class SlackError(IntegrationError):
    sdk_exception = "SlackError"


class PagerDutyError(IntegrationError):
    sdk_exception = "PagerDutyError"


class OktaError(IntegrationError):
    sdk_exception = "OktaError"


class GitHubError(IntegrationError):
    sdk_exception = "GitHubError"


class AWSLambdaError(IntegrationError):
    sdk_exception = "AWSLambdaError"
