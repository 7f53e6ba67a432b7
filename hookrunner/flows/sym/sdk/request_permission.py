"""Who may see and who may act on a request: the ``get_permissions`` reducer's answer."""

from __future__ import annotations

from enum import Enum
from typing import Any, Union

from .exceptions import SDKError


class PermissionLevel(str, Enum):  # noqa: UP042 (StrEnum is Python 3.11+; hooks run on 3.9)
    """Roles from hookrunner's ``[roles]``: admins, members (admins included), anyone."""

    ADMIN = "admin"
    MEMBER = "member"
    ALL_USERS = "all_users"


# A level, or the people: User objects, their ids (``user_ids``) or e-mail addresses.
Permission = Union[PermissionLevel, "list[Any]"]


def _checked(field: str, value: Any) -> Any:
    if isinstance(value, PermissionLevel):
        return value
    if isinstance(value, str):
        try:
            return PermissionLevel(value.lower())
        except ValueError:
            pass
    if isinstance(value, (list, tuple)) and value:
        return list(value)
    raise SDKError(
        "INVALID_PERMISSION",
        f"RequestPermission.{field} must be a PermissionLevel or a non-empty list of users,"
        f" not {value!r}; use sym.sdk.user.user_ids() to turn users into ids",
    )


class RequestPermission:
    """``webapp_view`` and ``approve_deny`` levels, and whether requesters approve themselves."""

    def __init__(
        self, webapp_view: Permission, approve_deny: Permission, allow_self_approval: bool = False
    ) -> None:
        if not isinstance(allow_self_approval, bool):
            raise SDKError("INVALID_PERMISSION", "allow_self_approval must be a bool")
        self.webapp_view = _checked("webapp_view", webapp_view)
        self.approve_deny = _checked("approve_deny", approve_deny)
        self.allow_self_approval = allow_self_approval

    @staticmethod
    def _is_valid_uuid(value: Any) -> bool:
        import uuid

        try:
            uuid.UUID(str(value))
        except ValueError:
            return False
        return True

    def __repr__(self) -> str:
        return (
            f"RequestPermission(webapp_view={self.webapp_view!r},"
            f" approve_deny={self.approve_deny!r}, allow_self_approval={self.allow_self_approval})"
        )


__all__ = ["PermissionLevel", "RequestPermission"]
