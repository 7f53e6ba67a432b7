"""Sym's user directory (``sym.sdk.integrations.sym``): through ``call_integration``."""

from __future__ import annotations

from ..user import User
from ._call import call_integration


def get_or_create_user_by_email(email: str) -> User:
    answer: User = call_integration("sym", "get_or_create_user_by_email", email=email)
    return answer


def get_or_create_users_by_emails(emails: list[str], raise_on_error: bool = False) -> list[User]:
    answer: list[User] = call_integration(
        "sym", "get_or_create_users_by_emails", emails=emails, raise_on_error=raise_on_error
    )
    return answer


__all__ = ["get_or_create_user_by_email", "get_or_create_users_by_emails"]
