"""Exceptions a flow raises or catches (``sym.sdk.exceptions``), one per integration."""

from __future__ import annotations

from typing import Any


class SymException(Exception):
    """The base of the SDK's exceptions: a message and an ``error_code`` (``Type:NAME``)."""

    def __init__(self, error_type: str, name: str, message: str) -> None:
        self.message = message
        self.error_code = f"{error_type}:{name}"
        super().__init__(message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": True, "message": self.message, "code": self.error_code}


class ExceptionWithHint(SymException):
    """An exception whose ``str()`` adds a hint (subclasses define ``hint``)."""

    @property
    def hint(self) -> str:
        return ""

    def __str__(self) -> str:
        return f"{self.message}\n\n*Hint:* {self.hint}"


class _ServiceException(SymException):
    """An exception of one service: ``(name, message, error_type=<the service>)``."""

    service = "Sym"

    def __init__(self, name: str, message: str, error_type: str | None = None) -> None:
        super().__init__(error_type or self.service, name, message)


class AccessStrategyError(_ServiceException):
    service = "AccessStrategy"


class AptibleError(_ServiceException):
    service = "Aptible"


class AWSError(_ServiceException):
    service = "AWS"


class AWSLambdaError(AWSError):
    service = "AWSLambda"


class AWSIAMError(AWSError):
    service = "AWSIAM"


class AWSSSOError(AWSError):
    service = "AWSSSO"


class BoundaryError(_ServiceException):
    service = "Boundary"


class GitHubError(_ServiceException):
    service = "GitHub"


class GoogleError(_ServiceException):
    service = "Google"


class HTTPError(_ServiceException):
    service = "HTTP"


class IdentityError(_ServiceException):
    service = "Identity"


class CouldNotSaveError(IdentityError):
    def __init__(self, message: str) -> None:
        super().__init__("COULD_NOT_SAVE", message)


class IdentityNotFound(IdentityError, ExceptionWithHint):
    """The requester has no identity for a strategy's integration, and none could be fetched."""

    def __init__(self, email: str, service_id: str) -> None:
        self.email = email
        self.service_id = service_id
        super().__init__("NOT_FOUND", f"No identity found for {email} in {service_id}")

    @property
    def hint(self) -> str:
        return "fetch_remote_identity() returned None for this user"


class JiraError(_ServiceException):
    service = "Jira"


class KnowBe4Error(_ServiceException):
    service = "KnowBe4"


class OktaError(_ServiceException):
    service = "Okta"


class OneLoginError(_ServiceException):
    service = "OneLogin"


class PagerDutyError(_ServiceException):
    service = "PagerDuty"


class SDKError(_ServiceException):
    service = "SymSDK"


class MissingArgument(SDKError):
    def __init__(self, arg: str, method: str) -> None:
        super().__init__("MISSING_ARGUMENT", f"{method}() is missing the argument {arg}")


class SlackError(_ServiceException):
    service = "Slack"


class SymIntegrationError(_ServiceException):
    service = "SymIntegration"


__all__ = [
    "AWSError",
    "AWSIAMError",
    "AWSLambdaError",
    "AWSSSOError",
    "AccessStrategyError",
    "AptibleError",
    "BoundaryError",
    "CouldNotSaveError",
    "ExceptionWithHint",
    "GitHubError",
    "GoogleError",
    "HTTPError",
    "IdentityError",
    "IdentityNotFound",
    "JiraError",
    "KnowBe4Error",
    "MissingArgument",
    "OktaError",
    "OneLoginError",
    "PagerDutyError",
    "SDKError",
    "SlackError",
    "SymException",
    "SymIntegrationError",
]
