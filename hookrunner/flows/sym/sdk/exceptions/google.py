"""``sym.sdk.exceptions.google``: the same classes as ``sym.sdk.exceptions``."""

from . import GoogleError

__all__ = ["GoogleError"]
