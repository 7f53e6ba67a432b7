"""``sym.sdk.exceptions.boundary``: the same classes as ``sym.sdk.exceptions``."""

from . import BoundaryError

__all__ = ["BoundaryError"]
