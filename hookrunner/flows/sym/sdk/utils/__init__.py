"""Helpers for strategies (``sym.sdk.utils``)."""

from .user import persist_user_identity, persisted_identities

__all__ = ["persist_user_identity", "persisted_identities"]
