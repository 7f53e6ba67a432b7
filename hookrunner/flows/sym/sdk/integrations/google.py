"""Google Workspace (``sym.sdk.integrations.google``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ..user import User
from ._call import call_integration


def is_user_in_group(user: User, *, group_email: str) -> bool:
    return bool(call_integration("google", "is_user_in_group", user=user, group_email=group_email))


def list_groups(domain: str | None = None) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration("google", "list_groups", domain=domain)
    return answer


def users_in_group(group_email: str, *, include_indirect_members: bool = True) -> list[User]:
    answer: list[User] = call_integration(
        "google",
        "users_in_group",
        group_email=group_email,
        include_indirect_members=include_indirect_members,
    )
    return answer


__all__ = ["is_user_in_group", "list_groups", "users_in_group"]
