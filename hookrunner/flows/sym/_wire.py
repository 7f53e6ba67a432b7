"""Handler answers turned into the JSON the daemon reads (docs/contract-notes.md).

Each reducer has one accepted return type; anything else is ``WrongReturnType``, which
the daemon treats as the reducer's failure: nobody may approve (fail closed).
"""

from __future__ import annotations

import datetime
import enum
import math
import sys
from typing import Any, TypeVar

from .sdk.exceptions import SDKError
from .sdk.forms import FieldOption
from .sdk.notifications import Notification
from .sdk.request_destination import RequestDestination, RequestDestinationFallback
from .sdk.request_permission import PermissionLevel, RequestPermission
from .sdk.resource import SRN
from .sdk.target import AccessTarget
from .sdk.templates.template import Directive
from .sdk.user import User, email_for_id

_Entry = TypeVar("_Entry")


class WrongReturnType(SDKError):
    """A handler returned something its kind never returns."""

    def __init__(self, handler: str, value: Any, expected: str) -> None:
        super().__init__(
            "WRONG_RETURN_TYPE", f"{handler} returned {type(value).__name__}; expected {expected}"
        )


def jsonable(value: Any, where: str) -> Any:
    """``value`` as JSON data: SDK objects by their natural identifier, nothing guessed."""
    if value is None or isinstance(value, (bool, str)):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise WrongReturnType(where, value, "a finite number")
        return value
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise WrongReturnType(where, value, "an object with string keys")
        return {key: jsonable(item, where) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item, where) for item in value]
    converters: list[tuple[type, Any]] = [
        (User, lambda v: v.email),
        (SRN, str),
        (AccessTarget, lambda v: v.name),
        (FieldOption, lambda v: jsonable(v.value, where)),
        (enum.Enum, lambda v: jsonable(v.value, where)),
        (datetime.datetime, lambda v: v.isoformat()),
        (datetime.date, lambda v: v.isoformat()),
        (datetime.timedelta, lambda v: int(v.total_seconds())),
    ]
    for kind, convert in converters:
        if isinstance(value, kind):
            return convert(value)
    if _is_uuid(value):
        return str(value)
    raise WrongReturnType(where, value, "JSON data (str, number, bool, list, dict, User, SRN)")


def _is_uuid(value: Any) -> bool:
    """Whether ``value`` is a UUID (``uuid`` is imported only where users' ids are used)."""
    uuid = sys.modules.get("uuid")
    return uuid is not None and isinstance(value, uuid.UUID)


def directive(handler: str, value: Any) -> dict[str, Any] | None:
    """A hook's answer: ``None`` or a template directive."""
    if value is None:
        return None
    if not isinstance(value, Directive):
        raise WrongReturnType(handler, value, "None or an ApprovalTemplate directive")
    return {
        "directive": value.event,
        "message": jsonable(value.message, handler),
        "fields": jsonable(value.fields, handler),
    }


def _person(handler: str, entry: Any) -> str:
    if isinstance(entry, User):
        return entry.email
    if _is_uuid(entry) or (isinstance(entry, str) and "@" not in entry):
        email = email_for_id(str(entry))
        if email is None:
            raise WrongReturnType(handler, entry, "users, their user_ids() or e-mail addresses")
        return email
    if isinstance(entry, str):
        return entry
    raise WrongReturnType(handler, entry, "users, their user_ids() or e-mail addresses")


def _people(handler: str, entries: Any) -> dict[str, list[str]]:
    return {"users": [_person(handler, entry) for entry in entries]}


def _permission(handler: str, value: Any) -> Any:
    if isinstance(value, PermissionLevel):
        return value.name
    return _people(handler, value)


def permissions(handler: str, value: Any) -> dict[str, Any]:
    """``get_permissions``: a ``RequestPermission``."""
    if not isinstance(value, RequestPermission):
        raise WrongReturnType(handler, value, "a RequestPermission")
    return {
        "webapp_view": _permission(handler, value.webapp_view),
        "approve_deny": _permission(handler, value.approve_deny),
        "allow_self_approval": value.allow_self_approval,
    }


def destination(handler: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, (RequestDestination, RequestDestinationFallback)):
        raise WrongReturnType(handler, value, "a destination (slack.channel/user/group/fallback)")
    return value._to_wire()


def approvers(handler: str, value: Any) -> dict[str, Any]:
    """``get_approvers``: a destination, or a list of users / e-mail addresses."""
    if isinstance(value, (list, tuple)):
        return _people(handler, value)
    return {"destination": destination(handler, value)}


def _list_of(handler: str, value: Any, kind: type[_Entry]) -> list[_Entry]:
    """A handler's list (or tuple) in which every entry must be a ``kind``."""
    expected = f"a list of {kind.__name__}"
    if not isinstance(value, (list, tuple)):
        raise WrongReturnType(handler, value, expected)
    for entry in value:
        if not isinstance(entry, kind):
            raise WrongReturnType(handler, entry, expected)
    return list(value)


def notifications(handler: str, value: Any) -> list[dict[str, Any]]:
    """``get_request_notifications``: a list of ``Notification``."""
    return [entry._to_wire() for entry in _list_of(handler, value, Notification)]


def options(handler: str, value: Any) -> list[dict[str, Any]]:
    """A ``@prefetch`` reducer: a list of ``FieldOption``."""
    entries = _list_of(handler, value, FieldOption)
    return [{"value": jsonable(entry.value, handler), "label": entry.label} for entry in entries]


def step_output(handler: str, value: Any) -> dict[str, Any]:
    """What a strategy's ``escalate``/``deescalate`` returned: ``None`` or a JSON object."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise WrongReturnType(handler, value, "None or a dict")
    output: dict[str, Any] = jsonable(value, handler)
    return output


REDUCERS = {
    "get_permissions": permissions,
    "get_approvers": approvers,
    "get_request_notifications": notifications,
}
