"""OneLogin (``sym.sdk.integrations.onelogin``): calls go through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ..user import User
from ._call import call_integration


def list_roles(name_filter: str | None = None) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "onelogin", "list_roles", name_filter=name_filter
    )
    return answer


def get_user_info(user: User) -> dict[str, Any]:
    answer: dict[str, Any] = call_integration("onelogin", "get_user_info", user=user)
    return answer


def users_in_role(role_id: int) -> list[User]:
    answer: list[User] = call_integration("onelogin", "users_in_role", role_id=role_id)
    return answer


def is_user_in_role(user: User, *, role_id: int) -> bool:
    return bool(call_integration("onelogin", "is_user_in_role", user=user, role_id=role_id))


__all__ = ["get_user_info", "is_user_in_role", "list_roles", "users_in_role"]
