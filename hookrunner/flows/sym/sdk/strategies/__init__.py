"""Custom access strategies (``sym.sdk.strategies``)."""

from .access_strategy import AccessStrategy
from .integration import Integration

__all__ = ["AccessStrategy", "Integration"]
