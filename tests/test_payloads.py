"""The hoop payload, field for field, with ids computed here independently."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from pathlib import Path

import pytest

from hookrunner.config import ExecutorSettings
from hookrunner.hook_runtime import HookRuntime
from hookrunner.payloads import (
    PayloadError,
    SvixError,
    build_payload,
    encode_for_env,
    parse_session_event,
    session_event_from_hoop_webhook,
)
from hookrunner.repo import Snapshot, build_index
from hookrunner.session_hooks import run_session_hook

DUMP_HOOK = """\
import json, os, shutil
out = {"env": os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"], "file": None}
if "HOOP_RUNBOOK_HOOK_PAYLOAD_FILE" in os.environ:
    out["file"] = open(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD_FILE"]).read()
print(json.dumps(out))
"""


def test_session_open_payload_field_for_field() -> None:
    event = parse_session_event(
        "session-open",
        {
            "sid": "s-1",
            "verb": "exec",
            "connection_name": "pg-readonly",
            "connection_type": "database",
            "connection_subtype": "postgres",
            "connection_envs": {"PGPASSWORD": "hunter2"},
            "connection_reviewers": ["lead@domain.tld"],
            "input": "SELECT 1",
            "user_email": "user@domain.tld",
        },
    )
    payload = build_payload(event, ["python3"], "print(1)\n", pass_connection_envs=False)
    assert payload == {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "session-open/s-1")),
        "sid": "s-1",
        "command": ["python3"],
        "input_file": "print(1)\n",
        "event_session_open": {
            "verb": "exec",
            "connection_name": "pg-readonly",
            "connection_type": "database",
            "connection_subtype": "postgres",
            "connection_envs": {"PGPASSWORD": "[redacted]"},
            "connection_reviewers": ["lead@domain.tld"],
            "input": "SELECT 1",
            "user_email": "user@domain.tld",
        },
        "event_session_close": None,
    }
    passed = build_payload(event, ["python3"], "", pass_connection_envs=True)
    assert passed["event_session_open"]["connection_envs"] == {"PGPASSWORD": "hunter2"}


def test_session_close_payload_and_full_hoop_body() -> None:
    body = {"sid": "s-2", "event_session_close": {"exit_code": 3, "output": "boom"}}
    event = parse_session_event("session-close", body)
    payload = build_payload(event, ["python3"], "src", pass_connection_envs=False)
    assert payload["id"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "session-close/s-2"))
    assert payload["event_session_open"] is None
    assert payload["event_session_close"] == {"exit_code": 3, "output": "boom"}
    assert list(payload) == [
        "id", "sid", "command", "input_file", "event_session_open", "event_session_close"
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("session-open", {"sid": "x"}, "connection_name"),
        ("session-open", {"sid": 5, "connection_name": "c"}, "sid"),
        ("session-open", {"sid": "x", "connection_name": "c", "input": 7}, "input"),
        ("session-close", {"sid": "x", "exit_code": "0"}, "exit_code"),
        ("session-close", {"sid": "x", "exit_code": 0, "surprise": 1}, "surprise"),
        ("session-close", ["not", "an", "object"], "body"),
    ],
)
def test_wrong_types_name_the_field(kind: str, body: object, field: str) -> None:
    with pytest.raises(PayloadError, match=field):
        parse_session_event(kind, body)  # type: ignore[arg-type]


def test_small_payload_is_not_truncated() -> None:
    payload = {"input_file": "x", "event_session_open": {"input": "y"}}
    value, truncated = encode_for_env(payload)
    assert not truncated and json.loads(value) == payload


def test_oversized_payload_is_truncated_to_the_cap() -> None:
    event = parse_session_event(
        "session-open", {"sid": "big", "connection_name": "c", "input": "é" * 150_000}
    )
    payload = build_payload(event, ["python3"], "#" * 90_000, pass_connection_envs=False)
    value, truncated = encode_for_env(payload, cap=128 * 1024 - 100)
    assert truncated
    assert len(value.encode()) <= 128 * 1024 - 100
    short = json.loads(value)
    assert short["truncated"] is True
    assert short["event_session_open"]["input"] == "é" * len(short["event_session_open"]["input"])
    assert 0 < len(short["event_session_open"]["input"]) < 150_000
    assert 0 < len(short["input_file"]) <= 90_000
    assert short["id"] == payload["id"] and short["sid"] == "big"


def test_hook_sees_truncated_env_and_full_payload_file(tmp_path: Path) -> None:
    hooks = tmp_path / "hoop-hooks"
    hooks.mkdir()
    (hooks / "session-open.runbook.py").write_text(DUMP_HOOK)
    big_input = "SELECT 'z';\n" * (200 * 1024 // 12)
    event = parse_session_event(
        "session-open", {"sid": "s-big", "connection_name": "c", "input": big_input}
    )
    index = build_index(Snapshot("abc123", tmp_path))
    settings = ExecutorSettings(max_output_bytes=1 << 20)  # room to print both copies
    result = asyncio.run(
        run_session_hook(
            event, index, settings, HookRuntime(), run_id="r1", event_id="e1", attempt=1
        )
    )
    assert result.status == "succeeded", result.stderr
    seen = json.loads(result.stdout)
    env_payload = json.loads(seen["env"])
    assert env_payload["truncated"] is True
    assert len(seen["env"].encode()) < 128 * 1024
    full = json.loads(seen["file"])
    assert full["event_session_open"]["input"] == big_input
    assert "truncated" not in full
    assert full["input_file"] == DUMP_HOOK


def test_hoop_webhook_session_open_maps_onto_payload() -> None:
    schema = Path(__file__).parents[2] / "shared/reference/hoop/session.open.schema.json"
    if not schema.is_file():
        pytest.skip("the shared hoop reference schemas are not beside the project")
    example = json.loads(schema.read_text())["examples"][0]
    example = {**example, "connection_envs": ["PGPASSWORD"]}
    event = session_event_from_hoop_webhook(example)
    assert event.kind == "session-open" and event.sid == example["id"]
    assert event.open is not None
    assert event.open.connection_name == example["connection"]
    assert event.open.input == base64.b64decode(example["input"]).decode()
    assert event.open.connection_envs == {"PGPASSWORD": "[redacted]"}
    assert event.open.user_email == example["user_email"]
    assert event.open.verb == "exec"


def test_hoop_webhook_session_close_maps_exit_err() -> None:
    event = session_event_from_hoop_webhook(
        {"event_type": "session.close", "id": "s9", "exit_code": 2, "exit_err": "denied"}
    )
    assert event.close is not None
    assert (event.sid, event.close.exit_code, event.close.output) == ("s9", 2, "denied")


@pytest.mark.parametrize(
    "body",
    [
        {"event_type": "session.delete", "id": "x"},
        {"event_type": "session.open", "id": "x", "connection": "c", "input": "%%%"},
        "nope",
    ],
)
def test_bad_hoop_webhooks_are_refused(body: object) -> None:
    with pytest.raises((SvixError, PayloadError)):
        session_event_from_hoop_webhook(body)
