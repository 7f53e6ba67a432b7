"""AWS IAM Identity Center (``sym.sdk.integrations.aws_sso``): through ``call_integration``."""

from __future__ import annotations

from typing import Any

from ..user import User
from ._call import call_integration


def is_user_in_group(user: User, *, group_name: str) -> bool:
    return bool(call_integration("aws_sso", "is_user_in_group", user=user, group_name=group_name))


def list_groups() -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration("aws_sso", "list_groups")
    return answer


def users_in_group(group_name: str) -> list[User]:
    answer: list[User] = call_integration("aws_sso", "users_in_group", group_name=group_name)
    return answer


def list_accounts(organizational_unit_id: str | None = None) -> list[dict[str, Any]]:
    answer: list[dict[str, Any]] = call_integration(
        "aws_sso", "list_accounts", organizational_unit_id=organizational_unit_id
    )
    return answer


__all__ = ["is_user_in_group", "list_accounts", "list_groups", "users_in_group"]
