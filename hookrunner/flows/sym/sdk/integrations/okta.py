"""Okta (``sym.sdk.integrations.okta``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ..user import User
from ._call import call_integration, users


def is_user_in_group(user: User, *, group_id: str) -> bool:
    return bool(call_integration("okta", "is_user_in_group", user=user, group_id=group_id))


def users_in_group(*, group_id: str) -> list[User]:
    return users(call_integration("okta", "users_in_group", group_id=group_id), "okta")


def get_user_info(user: User) -> dict[str, Any]:
    answer: dict[str, Any] = call_integration("okta", "get_user_info", user=user)
    return answer


def list_groups(
    *,
    name_filter: str | None = None,
    filter: str | None = None,
    expand: list[str] | None = None,
    only_native_groups: bool = True,
) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "okta",
        "list_groups",
        name_filter=name_filter,
        filter=filter,
        expand=expand,
        only_native_groups=only_native_groups,
    )
    return answer


__all__ = ["get_user_info", "is_user_in_group", "list_groups", "users_in_group"]
