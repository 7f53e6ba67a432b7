"""``sym.sdk.exceptions.github``: the same classes as ``sym.sdk.exceptions``."""

from . import GitHubError

__all__ = ["GitHubError"]
