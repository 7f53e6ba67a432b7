"""``sym.sdk.exceptions.aptible``: the same classes as ``sym.sdk.exceptions``."""

from . import AptibleError

__all__ = ["AptibleError"]
