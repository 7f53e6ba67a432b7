"""What hoop itself sends, accepted as sent: its Go-marshalled payloads, webhooks and verbs.

The captured bodies below are written the way Go's ``encoding/json`` marshals hoop's
``RunbookHookRequest``: every field, in struct order, compact, with a nil map or slice as
``null`` (hoop builds ``connection_envs`` and ``connection_reviewers`` from the session
context, which are nil for a connection without env vars or reviewers).
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import GitDaemon, WorkRepo
from daemon_harness import HOOP_SECRET, RunningDaemon, wait_for_run
from standardwebhooks.webhooks import Webhook

from hookrunner.config import ExecutorSettings
from hookrunner.execution import RunResult
from hookrunner.hook_runtime import HookRuntime
from hookrunner.payloads import (
    PayloadError,
    SessionKind,
    SvixError,
    build_payload,
    parse_session_event,
    session_event_from_hoop_webhook,
)
from hookrunner.repo import Snapshot, build_index
from hookrunner.session_hooks import run_session_hook

ECHO_HOOK = """\
import os
print(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
"""


def hoop_id(kind: str, sid: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{sid}"))


def captured_open(**session_open: object) -> str:
    """A session-open ``RunbookHookRequest`` as hoop's gateway marshals it."""
    fields = {
        "verb": "exec",
        "connection_name": "pg-readonly",
        "connection_type": "database",
        "connection_subtype": "postgres",
        "connection_envs": None,
        "connection_reviewers": None,
        "input": "SELECT 1",
        "user_email": "ana@example.com",
        **session_open,
    }
    request = {
        "id": hoop_id("session-open", "3f1e0c7a"),
        "sid": "3f1e0c7a",
        "command": ["python3"],
        "input_file": ECHO_HOOK,
        "event_session_open": fields,
        "event_session_close": None,
    }
    return json.dumps(request, separators=(",", ":"))


CAPTURED_CLOSE = (
    '{"id":"' + hoop_id("session-close", "3f1e0c7a") + '","sid":"3f1e0c7a",'
    '"command":["python3"],"input_file":' + json.dumps(ECHO_HOOK) + ","
    '"event_session_open":null,"event_session_close":{"exit_code":-2,"output":null}}'
)


def run_echo(tmp_path: Path, kind: SessionKind, body: Any, **settings: Any) -> RunResult:
    hooks = tmp_path / "hoop-hooks"
    hooks.mkdir(exist_ok=True)
    (hooks / f"{kind}.runbook.py").write_text(ECHO_HOOK)
    index = build_index(Snapshot("c0ffee", tmp_path))
    event = parse_session_event(kind, body)
    return asyncio.run(
        run_session_hook(
            event,
            index,
            ExecutorSettings(**settings),
            HookRuntime(),
            run_id="r",
            event_id="e",
            attempt=1,
        )
    )


@pytest.mark.parametrize("pass_connection_envs", [False, True])
@pytest.mark.parametrize(
    "nulls",
    [
        {},
        {"connection_reviewers": ["lead@example.com"]},
        {"connection_envs": {"envvar:PGHOST": "ZGIuaW50ZXJuYWw="}},
    ],
    ids=["both-null", "envs-null", "reviewers-null"],
)
def test_hoops_own_open_payload_reaches_the_hook_as_given(
    tmp_path: Path, nulls: dict[str, object], pass_connection_envs: bool
) -> None:
    captured = captured_open(**nulls)
    result = run_echo(
        tmp_path,
        "session-open",
        json.loads(captured),
        pass_connection_envs=pass_connection_envs,
    )
    assert result.status == "succeeded", result.stderr
    seen = json.loads(result.stdout)
    expected = json.loads(captured)
    if "connection_envs" in nulls and not pass_connection_envs:
        expected["event_session_open"]["connection_envs"] = {"envvar:PGHOST": "[redacted]"}
    assert seen == expected
    assert list(seen) == list(expected)
    assert list(seen["event_session_open"]) == list(expected["event_session_open"])


def test_hoops_own_close_payload_reaches_the_hook_as_given(tmp_path: Path) -> None:
    result = run_echo(tmp_path, "session-close", json.loads(CAPTURED_CLOSE))
    assert result.status == "succeeded", result.stderr
    assert json.loads(result.stdout) == json.loads(CAPTURED_CLOSE)


def test_connection_envs_hold_any_json_value_as_hoops_map_does() -> None:
    event = parse_session_event(
        "session-open",
        {"sid": "s", "connection_name": "c", "connection_envs": {"PORT": 5432, "TLS": True}},
    )
    payload = build_payload(event, ["python3"], "", pass_connection_envs=True)
    assert payload["event_session_open"]["connection_envs"] == {"PORT": 5432, "TLS": True}


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"connection_envs": ["PGHOST"]}, "connection_envs"),
        ({"connection_envs": {"PGHOST": "x"}, "connection_reviewers": "lead"}, "reviewers"),
        ({"connection_name": None}, "connection_name"),
    ],
)
def test_what_hoop_never_sends_is_still_refused(fields: dict[str, object], where: str) -> None:
    body = json.loads(captured_open(**fields))
    with pytest.raises(PayloadError, match=where):
        parse_session_event("session-open", body)


def svix_open(**fields: object) -> dict[str, object]:
    """A ``session.open`` webhook body as hoop's webhooks plugin builds it."""
    return {
        "event_type": "session.open",
        "id": "a1b2",
        "user_id": "google-oauth2|1",
        "user_email": "ana@example.com",
        "connection": "bash",
        "connection_type": "custom",
        "connection_envs": None,
        "input": base64.b64encode(b"echo hi").decode(),
        "is_input_truncated": False,
        "input_size": 7,
        "input_envs": [],
        "has_input_args": False,
        "review": None,
        "command": ["bash"],
        "verb": "exec",
        **fields,
    }


def test_a_truncated_webhook_input_says_so_in_the_hook_payload() -> None:
    cut = b"SELECT '" + b"x" * 9990 + "é".encode()  # 10,000 bytes: hoop cut mid-character
    body = svix_open(
        input=base64.b64encode(cut[:10_000]).decode(), is_input_truncated=True, input_size=25_000
    )
    event = session_event_from_hoop_webhook(body)
    payload = build_payload(event, ["python3"], "", pass_connection_envs=False)
    assert payload["truncated"] is True
    assert payload["event_session_open"]["input"].startswith("SELECT 'xxx")


def test_input_size_above_what_came_means_truncated_too() -> None:
    event = session_event_from_hoop_webhook(svix_open(input_size=9_000))
    assert build_payload(event, ["python3"], "", False)["truncated"] is True


def test_a_whole_webhook_input_adds_no_truncated_key() -> None:
    event = session_event_from_hoop_webhook(svix_open())
    payload = build_payload(event, ["python3"], "", pass_connection_envs=False)
    assert "truncated" not in payload
    assert payload["event_session_open"]["input"] == "echo hi"
    assert payload["event_session_open"]["connection_envs"] is None  # hoop's nil list


@pytest.mark.parametrize(
    ("fields", "where"),
    [({"is_input_truncated": "yes"}, "is_input_truncated"), ({"input_size": "7"}, "input_size")],
)
def test_bad_truncation_fields_name_the_field(fields: dict[str, object], where: str) -> None:
    with pytest.raises(SvixError, match=where):
        session_event_from_hoop_webhook(svix_open(**fields))


def test_a_replayed_hook_payload_keeps_its_truncated_mark() -> None:
    body = {**json.loads(captured_open()), "truncated": True}
    event = parse_session_event("session-open", body)
    assert build_payload(event, ["python3"], "", False)["truncated"] is True


def test_plain_exec_runs_no_hook_and_is_recorded_skipped(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hooks = tmp_path / "hoop-hooks"
    hooks.mkdir()
    (hooks / "session-open.runbook.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    index = build_index(Snapshot("c0ffee", tmp_path))
    results = {}
    for verb in ("plain-exec", "exec"):
        event = parse_session_event(
            "session-open", {"sid": verb, "connection_name": "c", "verb": verb}
        )
        results[verb] = asyncio.run(
            run_session_hook(
                event,
                index,
                ExecutorSettings(),
                HookRuntime(),
                run_id=verb,
                event_id="e",
                attempt=1,
            )
        )
        assert marker.exists() is (verb == "exec")
    skipped, ran = results["plain-exec"], results["exec"]
    assert skipped.status == "skipped" and skipped.exit_code is None
    assert "plain-exec" in skipped.stderr
    assert ran.status == "succeeded" and ran.exit_code == 0, ran.stderr


# End to end: the daemon's intake, journal and workers, over HTTP.


@pytest.fixture
def daemon(tmp_path: Path, git_daemon: GitDaemon, work_repo: WorkRepo) -> Iterator[RunningDaemon]:
    work_repo.commit(
        {
            "hoop-hooks/session-open.runbook.py": ECHO_HOOK,
            "hoop-hooks/session-close.runbook.py": ECHO_HOOK,
        }
    )
    running = RunningDaemon(tmp_path, git_daemon.url("remote.git"))
    running.start()
    yield running
    running.stop()


def test_daemon_accepts_hoops_null_payload_and_hands_it_over(daemon: RunningDaemon) -> None:
    with daemon.client("admin-token") as admin:
        answer = admin.post(
            "/v1/events/session-open",
            content=captured_open(),
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 202, answer.text
        run = wait_for_run(admin, answer.json()["run_ids"][0])
    assert run["status"] == "succeeded", run
    assert json.loads(run["stdout"]) == json.loads(captured_open())


def test_daemon_records_plain_exec_as_skipped(daemon: RunningDaemon) -> None:
    with daemon.client("admin-token") as admin:
        answer = admin.post("/v1/events/session-open", content=captured_open(verb="plain-exec"))
        assert answer.status_code == 202, answer.text
        run = wait_for_run(admin, answer.json()["run_ids"][0])
    assert run["status"] == "skipped" and run["stdout"] == "" and run["exit_code"] is None
    assert "plain-exec" in run["stderr"]


def test_daemon_skips_the_close_hook_of_a_plain_exec_session(daemon: RunningDaemon) -> None:
    """hoop's gateway skips both hooks of a plain-exec session; the close carries no verb."""
    runs = {}
    with daemon.client("admin-token") as admin:
        for sid, verb in (("internal-1", "plain-exec"), ("person-1", "exec")):
            opened = json.loads(captured_open(verb=verb)) | {"sid": sid}
            answer = admin.post("/v1/events/session-open", json=opened)
            assert answer.status_code == 202, answer.text
            closed = admin.post("/v1/events/session-close", json={"sid": sid, "exit_code": 0})
            assert closed.status_code == 202, closed.text
            runs[verb] = wait_for_run(admin, closed.json()["run_ids"][0])
    skipped, ran = runs["plain-exec"], runs["exec"]
    assert skipped["status"] == "skipped" and skipped["exit_code"] is None
    assert "plain-exec session" in skipped["stderr"]
    assert ran["status"] == "succeeded", ran


def test_daemon_marks_a_truncated_webhook_input(daemon: RunningDaemon) -> None:
    body = json.dumps(svix_open(is_input_truncated=True, input_size=20_000))
    when = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_cut",
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(HOOP_SECRET).sign("msg_cut", when, body),
        "content-type": "application/json",
    }
    with daemon.client(None) as anonymous, daemon.client("read-token") as reader:
        answer = anonymous.post("/v1/webhooks/hoop", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        run = wait_for_run(reader, answer.json()["run_ids"][0])
    assert run["status"] == "succeeded", run
    assert json.loads(run["stdout"])["truncated"] is True
