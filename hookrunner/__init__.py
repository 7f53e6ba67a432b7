"""hookrunner: runs session and approval-flow hooks from a git-synced runbooks repository."""

__version__ = "0.1.0"
