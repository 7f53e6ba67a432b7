"""``sym.sdk.exceptions.sdk``: the same classes as ``sym.sdk.exceptions``."""

from . import MissingArgument, SDKError

__all__ = ["MissingArgument", "SDKError"]
