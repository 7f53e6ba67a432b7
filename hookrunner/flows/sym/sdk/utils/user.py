"""``persist_user_identity``: remember a user's identity in another service."""

from __future__ import annotations

from ..user import UserIdentity, canonical_email

# Identities persisted by this hook process; hookrunner does not store them across runs.
_PERSISTED: dict[str, list[UserIdentity]] = {}


def persist_user_identity(
    *, email: str, service: str, service_id: str, user_id: str
) -> UserIdentity:
    """Record that ``email`` is ``user_id`` in ``service`` (for this run's later lookups)."""
    identity = UserIdentity(service, service_id, user_id)
    _PERSISTED.setdefault(canonical_email(email), []).append(identity)
    return identity


def persisted_identities(email: str) -> list[UserIdentity]:
    return list(_PERSISTED.get(canonical_email(email), []))


__all__ = ["persist_user_identity"]
