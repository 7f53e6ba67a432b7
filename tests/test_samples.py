"""Every sample in sample-runbooks/, through dry-run and a real daemon.

A local HTTP receiver on 127.0.0.1 stands in for the SIEM, the chat webhook and the
access API, and records what each hook sent.
"""

from __future__ import annotations

import json
import shutil
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from conftest import WorkRepo
from daemon_harness import RunningDaemon, _toml, wait_for_run
from test_cli import run

SAMPLES = Path(__file__).resolve().parents[1] / "sample-runbooks"


class Received(NamedTuple):
    method: str
    path: str
    authorization: str | None
    body: Any


class Receiver:
    """Records requests; answers each path with queued statuses, then 200."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: defaultdict[str, list[int]] = defaultdict(list)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                auth = self.headers.get("authorization")
                receiver.received.append(Received(self.command, self.path, auth, body))
                queued = receiver.statuses[self.path]
                self.send_response(queued.pop(0) if queued else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            do_POST = do_DELETE = _handle

            def log_message(self, *_args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def at(self, path: str) -> list[Received]:
        return [request for request in self.received if request.path == path]

    def texts(self) -> list[str]:
        return [request.body["text"] for request in self.at("/chat")]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.server.shutdown()


def hook_env(receiver: Receiver) -> dict[str, str]:
    return {
        "SIEM_URL": f"{receiver.url}/siem",
        "SIEM_TOKEN": "siem-token",
        "NOTIFY_URL": f"{receiver.url}/chat",
        "ACCESS_API_URL": f"{receiver.url}/access",
        "ACCESS_API_TOKEN": "access-token",
    }


@pytest.fixture
def config(tmp_path: Path, receiver: Receiver) -> Path:
    path = tmp_path / "dry-run.toml"
    executor = {"interpreter": sys.executable, "env": hook_env(receiver)}
    path.write_text(_toml({"executor": executor}))
    return path


def dry_run(config: Path, *args: str) -> dict[str, Any]:
    result = run("dry-run", *args, "--repo", str(SAMPLES), "--config", str(config), "--json")
    assert result.returncode in (0, 1), result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def integrations_config(tmp_path: Path) -> Path:
    """A config with the integrations the samples name (flows/okta-admin)."""
    token = tmp_path / "token"
    token.write_text("unused\n")
    tables = {
        f"integrations.{kind}": {
            "type": kind,
            "token_file": str(token),
            "api_url": "http://127.0.0.1:9/",
        }
        for kind in ("slack", "pagerduty", "okta")
    }
    path = tmp_path / "integrations.toml"
    path.write_text(_toml(tables))
    return path


def test_validate_passes_on_the_samples(tmp_path: Path) -> None:
    unconfigured = run("validate", str(SAMPLES))
    assert "integration 'slack' is not configured" in unconfigured.stderr
    result = run("validate", str(SAMPLES), "--config", str(integrations_config(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "0 error(s), 0 warning(s)"


def test_dry_run_session_open_notifies_for_prod_connections(
    tmp_path: Path, config: Path, receiver: Receiver
) -> None:
    payload = tmp_path / "open.json"
    payload.write_text(json.dumps({
        "sid": "s1", "verb": "connect", "connection_name": "prod-pg",
        "user_email": "dev@example.com", "connection_reviewers": ["alice@example.com"],
    }))  # fmt: skip
    opened = dry_run(config, "session-open", "--payload", str(payload))
    quiet = dry_run(config, "session-open", "--connection", "dev-pg")
    assert opened["status"] == "succeeded" and quiet["status"] == "succeeded"
    assert json.loads(opened["stdout"].splitlines()[0])["connection"] == "prod-pg"
    assert receiver.texts() == [
        "dev@example.com opened a connect session on prod-pg (reviewers: alice@example.com)"
    ]


def test_dry_run_session_close_forwards_to_the_siem(config: Path, receiver: Receiver) -> None:
    receiver.statuses["/siem"] = [200, 503]
    sent = dry_run(config, "session-close", "--sid", "s2", "--exit-code", "3")
    retry = dry_run(config, "session-close", "--sid", "s3")
    assert sent["status"] == "succeeded" and retry["status"] == "tempfail"
    first = receiver.at("/siem")[0]
    assert first.authorization == "Bearer siem-token"
    assert first.body["sid"] == "s2" and first.body["exit_code"] == 3
    assert first.body["type"] == "session.close"


def test_dry_run_prod_db_flow(config: Path, receiver: Receiver) -> None:
    refused = dry_run(config, "flow", "prod-db", "approve", "--user", "alice.manager@example.com")
    assert refused["refusal"] == "403 an approval of prod-db needs a reason"
    outsider = dry_run(
        config, "flow", "prod-db", "approve", "--user", "eve@example.com", "--field", "reason=x"
    )
    assert outsider["refusal"] == "403 eve@example.com is not an approver of flow prod-db"
    approved = dry_run(
        config, "flow", "prod-db", "approve", "--user", "alice.manager@example.com",
        "--field", "reason=INC-1",
    )  # fmt: skip
    assert approved["request"]["state"] == "escalated"
    assert receiver.at("/access/grants") == []  # dry-run of approve grants nothing
    assert "alice.manager@example.com approved prod-db access for requester@example.com" in (
        receiver.texts()
    )
    urgent = dry_run(
        config, "flow", "prod-db", "request", "--user", "oncall@example.com",
        "--field", "urgency=urgent",
    )  # fmt: skip
    assert [entry["event"] for entry in urgent["request"]["history"]] == [
        "request", "approve", "escalate",
    ]  # fmt: skip
    escalated = dry_run(config, "flow", "prod-db", "escalate")
    assert escalated["request"]["state"] == "escalated"
    grant = receiver.at("/access/grants")[0]
    assert grant.authorization == "Bearer access-token"
    assert grant.body == {
        "request_id": "dry-run", "user": "requester@example.com",
        "role": "prod-db-readonly", "duration_s": 3600.0,
    }  # fmt: skip
    removed = dry_run(config, "flow", "prod-db", "deescalate")
    assert removed["request"]["state"] == "deescalated"
    assert [r.method for r in receiver.at("/access/grants/dry-run")] == ["DELETE"]


def test_dry_run_break_glass_refusals(config: Path) -> None:
    stranger = dry_run(config, "flow", "break-glass", "prompt", "--user", "dev@example.com")
    assert stranger["refusal"] == "403 break-glass is for incident responders only"
    no_incident = dry_run(config, "flow", "break-glass", "request", "--user", "oncall@example.com")
    assert no_incident["refusal"] == "422 fields.incident: required"


@pytest.fixture
def samples_daemon(tmp_path: Path, receiver: Receiver) -> Iterator[RunningDaemon]:
    repo = WorkRepo(tmp_path / "git")
    shutil.copytree(SAMPLES, repo.work, dirs_exist_ok=True)
    repo.commit({}, "samples")
    executor = {"interpreter": sys.executable, "env": hook_env(receiver), "timeout": 10}
    daemon = RunningDaemon(tmp_path, str(repo.bare), executor=executor)
    daemon.start()
    yield daemon
    daemon.stop()


def close_session(daemon: RunningDaemon, sid: str) -> dict[str, Any]:
    with daemon.client("events-token") as events, daemon.client("read-token") as reader:
        answer = events.post("/v1/events/session-close", json={"sid": sid, "exit_code": 0})
        assert answer.status_code == 202, answer.text
        return wait_for_run(reader, answer.json()["run_ids"][0])


def test_siem_503_is_retried_and_400_is_not(
    samples_daemon: RunningDaemon, receiver: Receiver
) -> None:
    receiver.statuses["/siem"] = [503]
    retried = close_session(samples_daemon, "retry-me")
    assert retried["status"] == "succeeded" and retried["attempt"] == 2
    assert [r.body["sid"] for r in receiver.at("/siem")] == ["retry-me", "retry-me"]
    receiver.statuses["/siem"] = [400]
    refused = close_session(samples_daemon, "bad-request")
    assert refused["status"] == "failed" and refused["attempt"] == 1
    assert "HTTP 400" in refused["stderr"]
    assert [r.body["sid"] for r in receiver.at("/siem")].count("bad-request") == 1


def test_session_open_on_prod_names_the_reviewers(
    samples_daemon: RunningDaemon, receiver: Receiver
) -> None:
    body = {
        "sid": "o1", "connection_name": "prod-orders", "user_email": "dev@example.com",
        "verb": "exec", "connection_reviewers": ["alice@example.com", "bob@example.com"],
    }  # fmt: skip
    with samples_daemon.client("events-token") as events:
        answer = events.post("/v1/events/session-open?wait=true", json=body)
    assert answer.json()["runs"][0]["status"] == "succeeded"
    assert receiver.texts() == [
        "dev@example.com opened a exec session on prod-orders"
        " (reviewers: alice@example.com, bob@example.com)"
    ]


def test_prod_db_request_approve_revoke_calls_the_access_api(
    samples_daemon: RunningDaemon, receiver: Receiver
) -> None:
    with samples_daemon.client("flows-token") as client:
        opened = client.post(
            "/v1/flows/prod-db/requests",
            json={"user": {"email": "dev@example.com"}, "fields": {"reason": "migration"},
                  "duration": "2h"},
        ).json()  # fmt: skip
        approve = {"user": {"email": "bob.manager@example.com"}, "reason": "CHG-7"}
        approved = client.post(f"/v1/requests/{opened['id']}/approve", json=approve).json()
        revoke = {"user": {"email": "dev@example.com"}}
        revoked = client.post(f"/v1/requests/{opened['id']}/revoke", json=revoke).json()
    assert approved["state"] == "escalated" and revoked["state"] == "revoked"
    assert receiver.at("/access/grants")[0].body == {
        "request_id": opened["id"], "user": "dev@example.com",
        "role": "prod-db-readonly", "duration_s": 7200.0,
    }  # fmt: skip
    assert [r.method for r in receiver.at(f"/access/grants/{opened['id']}")] == ["DELETE"]
    assert receiver.texts() == [
        f"dev@example.com asks for prod-db access (migration); request {opened['id']}",
        "bob.manager@example.com approved prod-db access for dev@example.com",
        "dev@example.com now has prod-db access for 120 min",
        "prod-db access of dev@example.com has been removed",
    ]


def test_break_glass_self_approval_is_short_and_loud(
    samples_daemon: RunningDaemon, receiver: Receiver
) -> None:
    responder = {"email": "oncall@example.com"}
    with samples_daemon.client("flows-token") as client:
        opened = client.post(
            "/v1/flows/break-glass/requests",
            json={"user": responder, "fields": {"incident": "INC-42"}, "duration": "2h"},
        ).json()
        approved = client.post(
            f"/v1/requests/{opened['id']}/approve", json={"user": responder}
        ).json()
    assert opened["duration_s"] == 1800  # capped by max_duration
    assert approved["state"] == "escalated"
    texts = receiver.texts()
    assert texts and all(text.startswith("@here BREAK-GLASS: ") for text in texts)
    assert any("HAS ADMIN ACCESS for 30 min (INC-42)" in text for text in texts)
    assert receiver.at("/access/grants")[0].body["role"] == "prod-admin"
