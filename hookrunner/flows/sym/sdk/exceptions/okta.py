"""``sym.sdk.exceptions.okta``: the same classes as ``sym.sdk.exceptions``."""

from . import OktaError

__all__ = ["OktaError"]
