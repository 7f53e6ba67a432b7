"""``sym.sdk.exceptions.slack``: the same classes as ``sym.sdk.exceptions``."""

from . import SlackError

__all__ = ["SlackError"]
