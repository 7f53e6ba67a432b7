"""The integrations flows call (DESIGN §12): one client per ``[integrations.<name>]``."""

from hookrunner.integrations.errors import IntegrationError, SymIntegrationError
from hookrunner.integrations.registry import Integrations

__all__ = ["IntegrationError", "Integrations", "SymIntegrationError"]
