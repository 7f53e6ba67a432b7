"""``sym.sdk.exceptions.knowbe4``: the same classes as ``sym.sdk.exceptions``."""

from . import KnowBe4Error

__all__ = ["KnowBe4Error"]
