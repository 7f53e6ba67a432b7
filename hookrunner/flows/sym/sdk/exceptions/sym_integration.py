"""``sym.sdk.exceptions.sym_integration``: the same classes as ``sym.sdk.exceptions``."""

from . import SymIntegrationError

__all__ = ["SymIntegrationError"]
