"""The hoop ``RunbookHookRequest`` payload, its ids, the env-size cap and the Svix mapping.

Intake stores a :class:`SessionEvent` (what happened); the payload a hook sees is built
at run time, because ``input_file`` is the source of the hook at the pinned commit.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

SessionKind = Literal["session-open", "session-close"]
SESSION_KINDS: tuple[SessionKind, ...] = ("session-open", "session-close")

PAYLOAD_ENV = "HOOP_RUNBOOK_HOOK_PAYLOAD"
PAYLOAD_FILE_ENV = "HOOP_RUNBOOK_HOOK_PAYLOAD_FILE"
# Linux refuses one argv/env string longer than MAX_ARG_STRLEN (32 pages), NUL included.
MAX_ENV_STRING = 128 * 1024
PAYLOAD_CAP = MAX_ENV_STRING - len(PAYLOAD_ENV) - len("=") - 1
REDACTED = "[redacted]"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


PLAIN_EXEC = "plain-exec"


class SessionOpen(_Strict):
    """hoop's ``EventSessionOpen``: a Go map and slice marshal as ``null`` when empty."""

    verb: StrictStr = "connect"
    connection_name: StrictStr
    connection_type: StrictStr = ""
    connection_subtype: StrictStr = ""
    connection_envs: dict[StrictStr, Any] | None = {}
    connection_reviewers: list[StrictStr] | None = []
    input: StrictStr = ""
    user_email: StrictStr = ""


class SessionClose(_Strict):
    exit_code: StrictInt
    output: StrictStr | None = None


class SessionEvent(_Strict):
    """What the journal keeps for a session event: enough to build the payload again."""

    kind: SessionKind
    sid: StrictStr = Field(min_length=1, max_length=256)
    open: SessionOpen | None = None
    close: SessionClose | None = None
    # The session's input reached us cut short (hoop's webhook caps it at 10 KB).
    truncated: bool = False
    # A close's session opened with hoop's ``plain-exec`` verb (the close carries none).
    plain_exec_session: bool = False

    @property
    def hoop_skips(self) -> bool:
        """hoop runs no session hook, open or close, for its internal ``plain-exec`` verb."""
        return self.plain_exec_session or (self.open is not None and self.open.verb == PLAIN_EXEC)


def event_id(kind: SessionKind, sid: str) -> str:
    """hoop's id: ``uuid5(NAMESPACE_URL, '<kind>/<sid>')``."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{sid}"))


class PayloadError(ValueError):
    """The body is not a valid session event; the message says which field."""


def first_error(exc: ValidationError, whole: str = "body") -> str:
    """The first problem as ``key: message``; ``whole`` names a problem of the whole."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or whole
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"


def parse_session_event(kind: SessionKind, body: Any) -> SessionEvent:
    """Accept ``{"sid", ...fields}`` or a full hoop payload for ``kind``."""
    if not isinstance(body, dict):
        raise PayloadError("body: must be a JSON object")
    full_key = "event_session_open" if kind == "session-open" else "event_session_close"
    event: dict[str, Any] = {"kind": kind, "sid": body.get("sid")}
    if full_key in body:
        fields = body.get(full_key)
        if body.get("truncated") is not None:  # a payload hookrunner handed a hook, replayed
            event["truncated"] = body["truncated"]
    else:
        fields = {k: v for k, v in body.items() if k != "sid"}
    if not isinstance(fields, dict):
        raise PayloadError(f"{full_key}: must be a JSON object")
    event["open" if kind == "session-open" else "close"] = fields
    try:
        return SessionEvent.model_validate(event)
    except ValidationError as exc:
        raise PayloadError(first_error(exc)) from None


def build_payload(
    event: SessionEvent, command: list[str], input_file: str, pass_connection_envs: bool
) -> dict[str, Any]:
    """The exact ``RunbookHookRequest`` dict hoop would hand the hook."""
    session_open: dict[str, Any] | None = None
    if event.open is not None:
        session_open = event.open.model_dump()
        envs = event.open.connection_envs
        if envs is not None and not pass_connection_envs:
            session_open["connection_envs"] = dict.fromkeys(envs, REDACTED)
    payload: dict[str, Any] = {
        "id": event_id(event.kind, event.sid),
        "sid": event.sid,
        "command": command,
        "input_file": input_file,
        "event_session_open": session_open,
        "event_session_close": event.close.model_dump() if event.close is not None else None,
    }
    if event.truncated:
        payload["truncated"] = True
    return payload


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def _size(payload: dict[str, Any]) -> int:
    return len(_dumps(payload).encode())


def encode_for_env(payload: dict[str, Any], cap: int = PAYLOAD_CAP) -> tuple[str, bool]:
    """The env var's value, shortened to ``cap`` bytes if needed, and whether it was."""
    if _size(payload) <= cap:
        return _dumps(payload), False
    short = json.loads(_dumps(payload))
    short["truncated"] = True
    opened = short["event_session_open"]
    long_fields: list[tuple[dict[str, Any], str]] = [(short, "input_file")]
    if opened is not None:
        long_fields.append((opened, "input"))
    for holder, key in long_fields:
        holder[key] = ""
    budget = cap - _size(short)
    if budget < 0:
        raise PayloadError("payload: too large even without input and input_file")
    # Share the room fairly, then shrink until JSON escaping fits too.
    for index, (holder, key) in enumerate(long_fields):
        original = payload[key] if holder is short else payload["event_session_open"][key]
        room = budget // (len(long_fields) - index)
        text = original[:room]
        while len(json.dumps(text, ensure_ascii=False).encode()) - 2 > room:
            text = text[: max(0, len(text) - max(1, len(text) // 20))]
        holder[key] = text
        budget -= len(json.dumps(text, ensure_ascii=False).encode()) - 2
    return _dumps(short), True


def full_json(payload: dict[str, Any]) -> bytes:
    return _dumps(payload).encode()


class SvixError(ValueError):
    """A hoop webhook body that cannot become a session event."""


_SVIX_KINDS: dict[str, SessionKind] = {
    "session.open": "session-open",
    "session.close": "session-close",
}


def session_event_from_hoop_webhook(body: Any) -> SessionEvent:
    """Map hoop's ``session.open`` / ``session.close`` webhook onto a session event."""
    if not isinstance(body, dict):
        raise SvixError("body: must be a JSON object")
    data = body.get("data", body) if isinstance(body.get("data"), dict) else body
    event_type = data.get("event_type", body.get("type"))
    kind = _SVIX_KINDS.get(event_type) if isinstance(event_type, str) else None
    if kind is None:
        raise SvixError(f"event_type: unsupported {event_type!r}")
    sid = data.get("id")
    if kind == "session-close":
        fields: dict[str, Any] = {"exit_code": data.get("exit_code", -100)}
        if isinstance(fields["exit_code"], float) and fields["exit_code"].is_integer():
            fields["exit_code"] = int(fields["exit_code"])
        if data.get("exit_err") is not None:
            fields["output"] = data["exit_err"]
        return parse_session_event(kind, {"sid": sid, **fields})
    raw_input = data.get("input") or ""
    try:
        input_bytes = base64.b64decode(raw_input, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise SvixError("input: not valid base64") from None
    envs = data.get("connection_envs")
    if envs is not None and not (isinstance(envs, list) and all(isinstance(k, str) for k in envs)):
        raise SvixError("connection_envs: must be a list of names")
    fields = {
        "verb": data.get("verb", "connect"),
        "connection_name": data.get("connection"),
        "connection_type": data.get("connection_type", ""),
        "connection_envs": None if envs is None else dict.fromkeys(envs, REDACTED),
        # hoop cuts at a byte count, so the last character may be split.
        "input": input_bytes.decode("utf-8", "replace"),
        "user_email": data.get("user_email", ""),
    }
    event = parse_session_event(kind, {"sid": sid, **fields})
    return event.model_copy(update={"truncated": _input_was_cut(data, len(input_bytes))})


def _input_was_cut(data: dict[str, Any], received: int) -> bool:
    """hoop's webhook says so with ``is_input_truncated``, or an ``input_size`` above what came."""
    flag = data.get("is_input_truncated")
    size = data.get("input_size")
    flag = False if flag is None else flag
    size = 0 if size is None else size
    if not isinstance(flag, bool):
        raise SvixError("is_input_truncated: must be a boolean")
    if isinstance(size, bool) or not isinstance(size, int | float):
        raise SvixError("input_size: must be a number")
    return flag or size > received
