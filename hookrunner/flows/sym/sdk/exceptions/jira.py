"""``sym.sdk.exceptions.jira``: the same classes as ``sym.sdk.exceptions``."""

from . import JiraError

__all__ = ["JiraError"]
