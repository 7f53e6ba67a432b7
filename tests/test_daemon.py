"""End to end against a real daemon process, a git daemon remote, and real HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import GitDaemon, WorkRepo, git
from daemon_harness import GIT_SECRET, HOOP_SECRET, RunningDaemon, wait_for_run
from standardwebhooks.webhooks import Webhook

PAYLOAD_HOOK = """\
import os
print(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
"""


@pytest.fixture
def daemon(tmp_path: Path, git_daemon: GitDaemon, work_repo: WorkRepo) -> Iterator[RunningDaemon]:
    work_repo.commit({"hoop-hooks/session-close.runbook.py": PAYLOAD_HOOK})
    running = RunningDaemon(tmp_path, git_daemon.url("remote.git"))
    running.start()
    yield running
    running.stop()


def test_event_is_accepted_then_runs_with_the_exact_payload(
    daemon: RunningDaemon, work_repo: WorkRepo
) -> None:
    with daemon.client("events-token") as events, daemon.client("read-token") as reader:
        answer = events.post("/v1/events/session-close", json={"sid": "s-42", "exit_code": 3})
        assert answer.status_code == 202
        body = answer.json()
        assert set(body) == {"event_id", "run_ids"} and len(body["run_ids"]) == 1
        run = wait_for_run(reader, body["run_ids"][0])
    assert run["status"] == "succeeded" and run["event_id"] == body["event_id"]
    assert run["commit"] == git("rev-parse", "HEAD", cwd=work_repo.work)
    assert json.loads(run["stdout"]) == {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "session-close/s-42")),
        "sid": "s-42",
        "command": ["python3"],
        "input_file": PAYLOAD_HOOK,
        "event_session_open": None,
        "event_session_close": {"exit_code": 3, "output": None},
    }


def test_wait_true_answers_with_the_result(daemon: RunningDaemon) -> None:
    with daemon.client("events-token") as events:
        answer = events.post(
            "/v1/events/session-open?wait=true", json={"sid": "w1", "connection_name": "pg"}
        )
    assert answer.status_code == 200
    (run,) = answer.json()["runs"]
    assert run["status"] == "succeeded"
    assert json.loads(run["stdout"]) == {"version": 1, "sid": "w1", "commit": run["commit"]}


def test_wait_true_answers_as_the_journal_has_it_and_again_for_a_repeated_delivery(
    daemon: RunningDaemon,
) -> None:
    body, headers = {"sid": "w2", "connection_name": "pg"}, {"Idempotency-Key": "w2-once"}
    with daemon.client("admin-token") as admin:
        first = admin.post("/v1/events/session-open?wait=true", json=body, headers=headers)
        again = admin.post("/v1/events/session-open?wait=true", json=body, headers=headers)
        (run,) = first.json()["runs"]
        journaled = admin.get(f"/v1/runs/{run['run_id']}").json()
    assert first.status_code == again.status_code == 200, (first.text, again.text)
    assert run == journaled and run["status"] == "succeeded"
    assert again.json()["duplicate"] is True and again.json()["runs"] == [journaled]


def test_authentication_and_scopes(daemon: RunningDaemon) -> None:
    body = {"sid": "a", "exit_code": 0}
    with daemon.client(None) as anonymous:
        missing = anonymous.post("/v1/events/session-close", json=body)
        wrong = anonymous.post(
            "/v1/events/session-close", json=body, headers={"Authorization": "Bearer nope"}
        )
    with daemon.client("read-token") as reader:
        forbidden = reader.post("/v1/events/session-close", json=body)
        sync_forbidden = reader.post("/v1/sync")
    for response, status in ((missing, 401), (wrong, 401), (forbidden, 403), (sync_forbidden, 403)):
        assert response.status_code == status
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status and response.json()["detail"]
    assert missing.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "content", "status"),
    [
        ("POST", "/v1/events/session-open", b"{not json", 400),
        ("POST", "/v1/events/session-open", b'{"sid": 1, "connection_name": "c"}', 422),
        ("POST", "/v1/events/session-close", b'{"sid": "x", "exit_code": "zero"}', 422),
        ("POST", "/v1/events/session-close", b"[]", 422),
        (
            "POST",
            "/v1/events/session-close",
            b'{"sid": "x", "exit_code": 0}' + b" " * (2 << 20),
            413,
        ),
        ("GET", "/v1/runs/00000000-0000-0000-0000-000000000000", b"", 404),
        ("POST", "/v1/runs/nope/replay", b"", 404),
        ("GET", "/v1/runs/..%2F..%2Fetc%2Fpasswd", b"", 404),
        ("POST", "/v1/events/..%2Fsession-open", b"{}", 404),
        ("POST", "/v1/events/session-open%00", b"{}", 404),
        ("GET", "/v1/runs?status=bogus", b"", 422),
        ("GET", "/v1/runs?limit=-5", b"", 422),
    ],
)
def test_bad_input_gets_a_problem_never_a_5xx(
    daemon: RunningDaemon, method: str, path: str, content: bytes, status: int
) -> None:
    with daemon.client("admin-token") as admin:
        response = admin.request(method, path, content=content)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == status
        assert admin.get("/healthz").status_code == 200


def hoop_webhook(
    message_id: str, body: dict[str, object], when: datetime
) -> tuple[bytes, dict[str, str]]:
    payload = json.dumps(body)
    signature = Webhook(HOOP_SECRET).sign(message_id, when, payload)
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return payload.encode(), headers


def test_signed_hoop_webhook_runs_the_mapped_payload_once(daemon: RunningDaemon) -> None:
    event = {
        "event_type": "session.open",
        "id": "hoop-session-1",
        "connection": "pg-prod",
        "connection_type": "database",
        "command": "psql",
        "verb": "exec",
        "user_email": "ana@example.com",
        "input": base64.b64encode(b"SELECT now()").decode(),
        "connection_envs": ["PGPASSWORD"],
    }
    content, headers = hoop_webhook("msg_1", event, datetime.now(UTC))
    with daemon.client(None) as anonymous, daemon.client("read-token") as reader:
        first = anonymous.post("/v1/webhooks/hoop", content=content, headers=headers)
        assert first.status_code == 202, first.text
        run = wait_for_run(reader, first.json()["run_ids"][0])
        again = anonymous.post("/v1/webhooks/hoop", content=content, headers=headers)
        assert again.status_code == 202
        assert again.json()["event_id"] == first.json()["event_id"]
        assert again.json()["run_ids"] == first.json()["run_ids"]
        assert len(reader.get("/v1/runs").json()["runs"]) == 1
    printed = json.loads(run["stdout"])
    assert printed["sid"] == "hoop-session-1"


def test_bad_or_stale_hoop_signatures_are_refused(daemon: RunningDaemon) -> None:
    event = {"event_type": "session.close", "id": "s", "exit_code": 0}
    content, headers = hoop_webhook("msg_2", event, datetime.now(UTC))
    tampered = content.replace(b'"exit_code": 0', b'"exit_code": 1')
    stale_content, stale_headers = hoop_webhook(
        "msg_3", event, datetime.now(UTC) - timedelta(minutes=15)
    )
    svix_headers = {k.replace("webhook-", "svix-"): v for k, v in headers.items()}
    with daemon.client(None) as anonymous:
        assert (
            anonymous.post("/v1/webhooks/hoop", content=tampered, headers=headers).status_code
            == 401
        )
        stale = anonymous.post("/v1/webhooks/hoop", content=stale_content, headers=stale_headers)
        assert stale.status_code == 401 and "tolerance" in stale.json()["detail"]
        unsigned = anonymous.post("/v1/webhooks/hoop", content=content)
        assert unsigned.status_code == 401
        svix = anonymous.post("/v1/webhooks/hoop", content=content, headers=svix_headers)
        assert svix.status_code == 202, svix.text


def test_github_push_webhook_makes_the_next_event_use_the_new_commit(
    daemon: RunningDaemon, work_repo: WorkRepo
) -> None:
    new_commit = work_repo.echo_hook(2)
    body = json.dumps({"ref": "refs/heads/main", "after": new_commit}).encode()
    signature = "sha256=" + hmac.new(GIT_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "X-Hub-Signature-256": signature,
        "X-GitHub-Delivery": "d-1",
        "X-GitHub-Event": "push",
    }
    with daemon.client(None) as anonymous, daemon.client("admin-token") as admin:
        bad = anonymous.post(
            "/v1/webhooks/git",
            content=body,
            headers={**headers, "X-Hub-Signature-256": "sha256=00"},
        )
        assert bad.status_code == 401
        assert anonymous.post("/v1/webhooks/git", content=body, headers=headers).status_code == 202
        deadline = time.monotonic() + 20
        while admin.get("/v1/status").json()["commit"] != new_commit:
            assert time.monotonic() < deadline, "push webhook did not publish the new commit"
            time.sleep(0.05)
        answer = admin.post(
            "/v1/events/session-open?wait=true", json={"sid": "p", "connection_name": "c"}
        )
    printed = json.loads(answer.json()["runs"][0]["stdout"])
    assert printed == {"version": 2, "sid": "p", "commit": new_commit}


def test_tempfail_retries_then_dead_then_replay(tmp_path: Path, work_repo: WorkRepo) -> None:
    counter = tmp_path / "attempts"
    source = f"open({str(counter)!r}, 'a').write('x')\nraise SystemExit(75)\n"
    work_repo.commit({"hoop-hooks/session-close.runbook.py": source})
    daemon = RunningDaemon(
        tmp_path, str(work_repo.bare), retry={"max_attempts": 3, "backoff": [0.1]}
    )
    daemon.start()
    try:
        with daemon.client("admin-token") as admin:
            run_id = admin.post(
                "/v1/events/session-close", json={"sid": "t", "exit_code": 0}
            ).json()["run_ids"][0]
            run = wait_for_run(admin, run_id)
            assert run["status"] == "dead" and run["outcome"] == "tempfail" and run["attempt"] == 3
            assert counter.read_text() == "xxx"
            dead = admin.get("/v1/runs", params={"status": "dead"}).json()["runs"]
            assert [r["run_id"] for r in dead] == [run_id]
            replay = admin.post(f"/v1/runs/{run_id}/replay")
            assert replay.status_code == 202
            assert wait_for_run(admin, replay.json()["run_ids"][0])["status"] == "dead"
            assert counter.read_text() == "xxxxxx"
    finally:
        daemon.stop()


def test_sigterm_drains_and_exits_zero(daemon: RunningDaemon) -> None:
    assert "READY=1" in daemon.notifications
    assert daemon.terminate() == 0
    assert "STOPPING=1" in daemon.notifications
