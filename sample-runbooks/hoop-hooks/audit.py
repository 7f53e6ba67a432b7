"""Shared by both session hooks: read the event and print one audit line (stdlib only)."""

import json
import os


def load_event() -> dict:
    """The payload, from the env var or, when it was truncated, from its file."""
    path = os.environ.get("HOOP_RUNBOOK_HOOK_PAYLOAD_FILE")
    if path:
        with open(path) as handle:
            return json.load(handle)
    return json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])


def audit_line(kind: str, event: dict, **fields: object) -> str:
    record = {"event": kind, "sid": event["sid"], "id": event["id"], **fields}
    return json.dumps(record, sort_keys=True)
