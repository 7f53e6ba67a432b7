"""``sym.sdk.exceptions.access_strategy``: the same classes as ``sym.sdk.exceptions``."""

from . import AccessStrategyError

__all__ = ["AccessStrategyError"]
