"""``sym.sdk.exceptions.onelogin``: the same classes as ``sym.sdk.exceptions``."""

from . import OneLoginError

__all__ = ["OneLoginError"]
