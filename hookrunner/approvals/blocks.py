"""Block Kit documents of Slack approvals: the request message, the requester's direct
message, the request modal, and reading a submitted modal back into fields.

Pure functions of the request (or the flow's document), so a message can be rendered
again from the journal at any time and always shows the request as it is.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from hookrunner.journal import RequestRecord

APPROVE = "hookrunner_approve"
DENY = "hookrunner_deny"
REVOKE = "hookrunner_revoke"
ACTION_EVENTS = {APPROVE: "approve", DENY: "deny", REVOKE: "revoke"}
REQUEST_VIEW = "hookrunner_request"
PICK_FLOW_VIEW = "hookrunner_pick_flow"
FLOW_BLOCK = "flow"
VALUE = "value"  # the action id of every input in the modal
MAX_TEXT = 2900  # a section's text is capped at 3000 characters by Slack
MAX_OPTIONS = 100  # a static select takes at most 100 options


def _text(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": kind, "text": text[:MAX_TEXT]}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:150] or " "}


def _when(at: float | None) -> str:
    if at is None:
        return "?"
    moment = datetime.datetime.fromtimestamp(at, datetime.UTC)
    # Slack shows the date in the reader's own time zone; the fallback is UTC.
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at)}^{{date_short_pretty}} {{time}}|{fallback}>"


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _last_actor(record: RequestRecord, *events: str) -> str:
    for entry in reversed(record.history):
        if entry.transition and entry.event in events:
            return entry.actor or "the flow"
    return "the flow"


def status_line(record: RequestRecord) -> str:
    """What happened to the request, in one line."""
    state = record.state
    if state == "pending":
        return ":hourglass: Waiting for approval"
    if state == "approved":
        by = _last_actor(record, "approve")
        failed = f" (not granted yet: {record.error})" if record.error else ""
        return f":white_check_mark: Approved by {by}{failed}"
    if state == "escalated":
        by = _last_actor(record, "approve")
        return f":white_check_mark: Approved by {by}; access until {_when(record.expires_at)}"
    if state == "denied":
        return f":no_entry: Denied by {_last_actor(record, 'deny')}"
    if state == "expired":
        return ":alarm_clock: Expired without a decision"
    if state == "revoked":
        return f":lock: Revoked by {_last_actor(record, 'revoke')}"
    return ":lock: Access ended"


def _summary(record: RequestRecord) -> list[dict[str, Any]]:
    duration = datetime.timedelta(seconds=int(record.duration_s))
    fields = [_text(f"*Duration*\n{duration}")] + [
        _text(f"*{name}*\n{_shown(value)}") for name, value in sorted(record.fields.items())
    ]
    heading = f"*{record.requester}* requests access with *{record.flow}*"
    blocks: list[dict[str, Any]] = [{"type": "section", "text": _text(heading)}]
    for start in range(0, len(fields), 10):  # at most 10 fields per section
        blocks.append({"type": "section", "fields": fields[start : start + 10]})
    request = _text(f"Request {record.request_id}")
    blocks.append({"type": "context", "elements": [_text(status_line(record)), request]})
    return blocks


def _button(label: str, action: str, request_id: str, style: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": _plain(label),
        "action_id": action,
        "value": request_id,
        "style": style,
    }


def request_message(record: RequestRecord) -> tuple[str, list[dict[str, Any]]]:
    """The announcement: the request, its status, and Approve / Deny while pending."""
    blocks = _summary(record)
    if record.state == "pending":
        buttons = [
            _button("Approve", APPROVE, record.request_id, "primary"),
            _button("Deny", DENY, record.request_id, "danger"),
        ]
        blocks.append({"type": "actions", "block_id": "decision", "elements": buttons})
    text = f"{record.requester} requests access with {record.flow}: {status_line(record)}"
    return text, blocks


def requester_message(record: RequestRecord, allow_revoke: bool) -> tuple[str, list[Any]]:
    """The requester's direct message: the outcome, and Revoke while access is granted."""
    heading = f"Your request with *{record.flow}*: {status_line(record)}"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": _text(heading)},
        {"type": "context", "elements": [_text(f"Request {record.request_id}")]},
    ]
    if record.state == "escalated" and allow_revoke:
        button = _button("Revoke", REVOKE, record.request_id, "danger")
        blocks.append({"type": "actions", "block_id": "revoke", "elements": [button]})
    return f"Your request with {record.flow}: {status_line(record)}", blocks


# -- the request modal ----------------------------------------------------------------


def _option(value: Any, label: str | None = None) -> dict[str, Any]:
    return {"text": _plain(label or _shown(value)), "value": json.dumps(value)[:150]}


def _select(options: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "static_select", "action_id": VALUE, "options": options[:MAX_OPTIONS]}


def _element(field: dict[str, Any], choices: list[dict[str, Any]] | None) -> dict[str, Any]:
    kind = field["type"]
    if choices is not None:
        return _select([_option(c["value"], c.get("label")) for c in choices])
    if field.get("allowed_values"):
        return _select([_option(v) for v in field["allowed_values"]])
    if kind == "bool":
        return _select([_option(True, "Yes"), _option(False, "No")])
    if kind == "int":
        return {"type": "number_input", "action_id": VALUE, "is_decimal_allowed": False}
    if kind == "user":
        return {"type": "email_text_input", "action_id": VALUE}
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": VALUE}
    if kind == "list":
        element["multiline"] = True
        element["placeholder"] = _plain("one per line")
    elif kind == "duration":
        element["placeholder"] = _plain("e.g. 30m, 1h")
    if field.get("default") is not None and kind in ("string", "duration"):
        element["initial_value"] = str(field["default"])
    return element


def request_modal(flow: dict[str, Any], options: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The modal of ``flow`` (its ``GET /v1/flows/{slug}`` document): one input per prompt
    field, ``options`` holding each ``@prefetch`` field's choices."""
    fields = list(flow["fields"])
    if flow["targets"] and not any(f["name"] == "target" for f in fields):
        fields.append({"name": "target", "type": "target", "label": "Target", "required": True})
    blocks = []
    for field in fields:
        choices = options.get(field["name"])
        if field["type"] == "target" and choices is None:
            choices = [{"value": t["name"], "label": t["label"]} for t in flow["targets"]]
        blocks.append(
            {
                "type": "input",
                "block_id": field["name"],
                "label": _plain(field.get("label") or field["name"]),
                "optional": not field.get("required", False),
                "element": _element(field, choices),
            }
        )
    blocks.append(
        {
            "type": "input",
            "block_id": "reason",
            "label": _plain("Reason"),
            "optional": True,
            "element": {"type": "plain_text_input", "action_id": VALUE, "multiline": True},
        }
    )
    return {
        "type": "modal",
        "callback_id": REQUEST_VIEW,
        "private_metadata": flow["slug"],
        "title": _plain(f"Request {flow['slug']}"[:24]),
        "submit": _plain("Request"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def pick_flow_modal(slugs: list[str]) -> dict[str, Any]:
    """A modal that lists the flows served now; submitting it shows the chosen flow's."""
    return {
        "type": "modal",
        "callback_id": PICK_FLOW_VIEW,
        "title": _plain("Request access"),
        "submit": _plain("Next"),
        "close": _plain("Cancel"),
        "blocks": [
            {
                "type": "input",
                "block_id": FLOW_BLOCK,
                "label": _plain("Flow"),
                "element": _select([_option(slug) for slug in slugs]),
            }
        ],
    }


def submitted(view: dict[str, Any], flow: dict[str, Any]) -> dict[str, Any]:
    """The fields of a submitted request modal, typed as the flow declares them.

    Raises :class:`ValueError` with ``(block, message)`` for a value that cannot be read.
    """
    types = {f["name"]: f["type"] for f in flow["fields"]}
    values: dict[str, Any] = {}
    for block, actions in (view.get("state", {}).get("values") or {}).items():
        action = actions.get(VALUE) if isinstance(actions, dict) else None
        if not isinstance(action, dict):
            continue
        value = _read(action)
        if value is None or value == "":
            continue
        values[block] = _typed(block, value, types.get(block, "string"))
    return values


def _read(action: dict[str, Any]) -> Any:
    selected = action.get("selected_option")
    if not isinstance(selected, dict):
        return action.get("value")
    value = str(selected.get("value"))
    try:
        return json.loads(value)  # the options carry their values as JSON
    except (json.JSONDecodeError, RecursionError):
        return value


def _typed(block: str, value: Any, kind: str) -> Any:
    if not isinstance(value, str):
        return value
    if kind == "int":
        try:
            return int(value)
        except ValueError:
            raise ValueError(block, "must be a whole number") from None
    if kind == "list":
        return [line.strip() for line in value.splitlines() if line.strip()]
    return value


def picked_flow(view: dict[str, Any]) -> str:
    values = view.get("state", {}).get("values") or {}
    return str(_read(values.get(FLOW_BLOCK, {}).get(VALUE) or {}) or "")
