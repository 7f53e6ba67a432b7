"""The harness's answers, checked against the shapes of the contract notes.

A hook process is untrusted: whatever it wrote is parsed with a size bound and
checked here, and anything else is :class:`MalformedAnswer`, which the engine treats
as that hook failing (fail closed), never as an engine error.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hookrunner.flows.errors import Invalid, MalformedAnswer
from hookrunner.flows.fields import check_plain

DIRECTIVES = frozenset({"prompt", "request", "approve", "deny", "escalate", "deescalate", "ignore"})
PERMISSION_LEVELS = ("ADMIN", "MEMBER", "ALL_USERS")
DESTINATION_TYPES = frozenset({"slack_channel", "slack_channel_id", "slack_user", "slack_group"})
MAX_LIST = 10_000


def parse_result(raw: bytes, limit: int) -> dict[str, Any]:
    """The harness's ``{"ok": …}`` object from at most ``limit`` bytes."""
    answer = _plain_json(raw, limit, "the result")
    if not isinstance(answer, dict) or not isinstance(answer.get("ok"), bool):
        raise MalformedAnswer("the result is not an object with a boolean 'ok'")
    return answer


def _fail(name: str, expected: str) -> MalformedAnswer:
    return MalformedAnswer(f"{name} answered the wrong shape; expected {expected}")


def _strings(value: Any, name: str, what: str) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _fail(name, f"a list of {what}")
    if not all(isinstance(item, str) for item in value):
        raise _fail(name, f"a list of {what}")
    return value


def directive(value: Any, name: str) -> dict[str, Any] | None:
    if value is None:
        return None
    expected = "null or a directive {directive, message, fields}"
    if not isinstance(value, dict) or value.get("directive") not in DIRECTIVES:
        raise _fail(name, expected)
    message, fields = value.get("message"), value.get("fields") or {}
    if not (message is None or isinstance(message, str)) or not isinstance(fields, dict):
        raise _fail(name, expected)
    return {"directive": value["directive"], "message": message, "fields": fields}


def _level(value: Any, name: str) -> str | dict[str, list[str]]:
    if value in PERMISSION_LEVELS:
        return str(value)
    if isinstance(value, dict) and set(value) == {"users"}:
        return {"users": _strings(value["users"], name, "e-mails")}
    raise _fail(name, "ADMIN, MEMBER, ALL_USERS or {users: [...]}")


def permissions(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("allow_self_approval"), bool):
        raise _fail(name, "{webapp_view, approve_deny, allow_self_approval}")
    return {
        "webapp_view": _level(value.get("webapp_view"), name),
        "approve_deny": _level(value.get("approve_deny"), name),
        "allow_self_approval": value["allow_self_approval"],
    }


def destination(value: Any, name: str, depth: int = 0) -> dict[str, Any]:
    if not isinstance(value, dict) or depth > 8:
        raise _fail(name, "a destination object")
    kind = value.get("type")
    if kind == "fallback":
        inner = value.get("destinations")
        if not isinstance(inner, list) or len(inner) > 100:
            raise _fail(name, "a fallback with a list of destinations")
        return {**value, "destinations": [destination(d, name, depth + 1) for d in inner]}
    if kind not in DESTINATION_TYPES:
        raise _fail(name, f"a destination of type {', '.join(sorted(DESTINATION_TYPES))}")
    return value


def notifications(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or len(value) > 100:
        raise _fail(name, "a list of notifications")
    checked = []
    for notification in value:
        if not isinstance(notification, dict) or not isinstance(
            notification.get("destinations"), list
        ):
            raise _fail(name, "a list of {destinations, timeout}")
        destinations = [destination(d, name) for d in notification["destinations"]]
        checked.append({**notification, "destinations": destinations})
    return checked


def approvers(value: Any, name: str) -> dict[str, Any]:
    if isinstance(value, dict) and set(value) == {"users"}:
        return {"users": _strings(value["users"], name, "e-mails")}
    if isinstance(value, dict) and set(value) == {"destination"}:
        return {"destination": destination(value["destination"], name)}
    raise _fail(name, "{users: [...]} or {destination: ...}")


def options(value: Any, name: str) -> list[dict[str, Any]]:
    expected = "a list of {value, label}"
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise _fail(name, expected)
    for option in value:
        if not isinstance(option, dict) or "value" not in option:
            raise _fail(name, expected)
        if not isinstance(option.get("label", ""), str | None):
            raise _fail(name, expected)
    return [{"value": o["value"], "label": o.get("label") or str(o["value"])} for o in value]


def nothing(value: Any, name: str) -> None:
    if value is not None:
        raise _fail(name, "null")


def description(value: Any, name: str) -> dict[str, Any]:
    expected = "{hooks, reducers, prefetch, strategy, unknown}"
    if not isinstance(value, dict):
        raise _fail(name, expected)
    strategy = value.get("strategy")
    if strategy is not None and not isinstance(strategy, str):
        raise _fail(name, expected)
    return {
        key: _strings(value.get(key, []), name, "names")
        for key in ("hooks", "reducers", "prefetch", "unknown")
    } | {"strategy": strategy}


def step_output(raw: bytes | None, limit: int) -> dict[str, Any]:
    """What an escalate / deescalate step wrote to ``HOOKRUNNER_STEP_OUTPUT``: an object."""
    if not raw or not raw.strip():
        return {}
    value = _plain_json(raw, limit, "the step output")
    if not isinstance(value, dict):
        raise MalformedAnswer("the step output is not a JSON object")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a finite number")


def _plain_json(raw: bytes, limit: int, what: str) -> Any:
    """JSON from at most ``limit`` bytes that can be stored and sent on: finite numbers
    and Unicode text only."""
    if len(raw) > limit:
        raise MalformedAnswer(f"{what} exceeds {limit} bytes")
    try:
        return check_plain(json.loads(raw, parse_constant=_refuse_constant), what)
    except (ValueError, RecursionError):  # bad JSON or UTF-8, NaN, nested too deep
        raise MalformedAnswer(f"{what} is not readable JSON") from None
    except Invalid as exc:
        raise MalformedAnswer(str(exc)) from None


def shape_of(name: str) -> Callable[[Any, str], Any]:
    """The check for the answer of hook, reducer or harness command ``name``."""
    if name.startswith(("on_", "after_")):
        return directive
    if name.startswith("prefetch:"):
        return options
    if name.startswith("strategy:"):
        return nothing
    return {
        "get_permissions": permissions,
        "get_request_notifications": notifications,
        "get_approvers": approvers,
        "describe": description,
    }[name]
