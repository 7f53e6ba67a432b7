"""AWS IAM (``sym.sdk.integrations.aws_iam``): calls go through ``call_integration``."""

from __future__ import annotations

from ..user import User
from ._call import call_integration


def is_user_in_group(user: User, *, group_name: str) -> bool:
    return bool(call_integration("aws_iam", "is_user_in_group", user=user, group_name=group_name))


__all__ = ["is_user_in_group"]
