"""``sym.sdk.exceptions.http``: the same classes as ``sym.sdk.exceptions``."""

from . import HTTPError

__all__ = ["HTTPError"]
