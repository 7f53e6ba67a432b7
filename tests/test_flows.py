"""Approval flows end to end: a real daemon, a git daemon remote, hooks run as processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import GitDaemon, WorkRepo
from daemon_harness import RunningDaemon

PROD_DB_IMPL = """\
from hookrunner.sdk import ApprovalTemplate, hook, reducer


@hook
def on_prompt(event):
    if event.user.email.endswith("@contractor.example.com"):
        return ApprovalTemplate.ignore(message="contractors cannot request prod-db")


@hook
def on_request(event):
    urgent = event.payload.fields.get("urgency") == "urgent"
    if urgent and event.user.email in event.flow.vars["on_call"]:
        return ApprovalTemplate.approve(reason="on-call, urgent")


@reducer
def get_approvers(event):
    return event.flow.vars["managers"]


@hook
def on_approve(event):
    if event.channel.type == "api" and not event.payload.fields.get("reason"):
        return ApprovalTemplate.ignore(message="say why you approve")


@hook
def after_escalate(event):
    print("granted", event.request.id, "approved by", event.get_actor("approve").email)
"""
PROD_DB_TOML = """\
max_duration = "1h"
default_duration = "30m"

[vars]
on_call = ["oncall@example.com"]
managers = ["boss@example.com", "lead@example.com"]
"""
# Appends one line per grant/removal, so tests can count how often each ran.
RUNBOOK = """\
import json, os
event = json.loads(os.environ["HOOKRUNNER_FLOW_EVENT"])
if os.path.exists(os.path.join(os.environ["GRANTS_DIR"], "fail-ACTION")):
    raise SystemExit("access API answered 500")
with open(os.path.join(os.environ["GRANTS_DIR"], "grants.log"), "a") as log:
    log.write(json.dumps({"action": "ACTION", "request": event["request"]["id"],
                          "user": event["request"]["requester"]["email"]}) + "\\n")
"""
SYM_IMPL = """\
from sym.sdk.annotations import hook, reducer
from sym.sdk.templates import ApprovalTemplate


@reducer
def get_approvers(event):
    return ["boss@example.com"]


@hook
def on_request(event):
    if event.payload.fields.get("ticket", "").startswith("OPS-"):
        return ApprovalTemplate.approve()
"""
FRAGILE_IMPL = """\
import time
from hookrunner.sdk import hook


@hook
def on_approve(event):
    if event.payload.fields.get("mode") == "raise":
        raise RuntimeError("approval backend down")
    if event.payload.fields.get("mode") == "hang":
        time.sleep(60)


@hook
def on_deescalate(event):
    raise RuntimeError("notifier down")


@hook
def on_deny(event):
    from hookrunner.sdk import ApprovalTemplate
    return ApprovalTemplate.deny()
"""
# Its expiry hooks try to keep the request open (an approval, or a crash), and say what
# the request looked like once it had expired.
STALE_IMPL = """\
import json, os
from sym.sdk.annotations import hook
from sym.sdk.templates import ApprovalTemplate


@hook
def on_request_expire(event):
    if event.payload.fields.get("mode") == "raise":
        raise RuntimeError("pager down")
    return ApprovalTemplate.approve()


@hook
def after_request_expire(event):
    with open(os.path.join(os.environ["GRANTS_DIR"], "expiry.log"), "a") as log:
        log.write(json.dumps({"event": event.name, "request": event.request.id,
                              "state": event.request.state, "user": event.user.email}) + "\\n")
"""


def flow_files(slug: str, impl: str, toml: str = "") -> dict[str, str]:
    files = {
        f"flows/{slug}/impl.py": impl,
        f"flows/{slug}/escalate.runbook.py": RUNBOOK.replace("ACTION", "grant"),
        f"flows/{slug}/deescalate.runbook.py": RUNBOOK.replace("ACTION", "remove"),
    }
    if toml:
        files[f"flows/{slug}/flow.toml"] = toml
    return files


@pytest.fixture
def grants(tmp_path: Path) -> Path:
    directory = tmp_path / "grants"
    directory.mkdir()
    return directory


@pytest.fixture
def flows_daemon(
    tmp_path: Path, git_daemon: GitDaemon, work_repo: WorkRepo, grants: Path
) -> Iterator[RunningDaemon]:
    work_repo.commit(
        {
            **flow_files("prod-db", PROD_DB_IMPL, PROD_DB_TOML),
            **flow_files("sym-style", SYM_IMPL),
            **flow_files("fragile", FRAGILE_IMPL),
            **flow_files("stale", STALE_IMPL, 'request_timeout = "2s"\n'),
        }
    )
    running = RunningDaemon(
        tmp_path,
        git_daemon.url("remote.git"),
        executor={"interpreter": sys.executable, "timeout": 5, "env": {"GRANTS_DIR": str(grants)}},
        retry={"backoff": [0.3, 0.3]},
    )
    running.start()
    yield running
    running.stop()


def grant_log(grants: Path) -> list[dict[str, str]]:
    path = grants / "grants.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def open_request(client: httpx.Client, slug: str, email: str, **body: Any) -> dict[str, Any]:
    answer = client.post(f"/v1/flows/{slug}/requests", json={"user": {"email": email}, **body})
    assert answer.status_code == 201, answer.text
    request: dict[str, Any] = answer.json()
    return request


def decide(
    client: httpx.Client, request_id: str, event: str, email: str, reason: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"user": {"email": email}}
    if reason is not None:
        body["reason"] = reason
    return client.post(f"/v1/requests/{request_id}/{event}", json=body)


def wait_for_state(
    client: httpx.Client, request_id: str, state: str, timeout: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        request: dict[str, Any] = client.get(f"/v1/requests/{request_id}").json()
        if request["state"] == state:
            return request
        time.sleep(0.05)
    raise TimeoutError(f"request {request_id} never reached {state}: {request}")


def test_contractor_is_refused_at_prompt_with_the_hooks_message(
    flows_daemon: RunningDaemon,
) -> None:
    with flows_daemon.client("flows-token") as client:
        refused = client.post(
            "/v1/flows/prod-db/prompt", json={"user": {"email": "pat@contractor.example.com"}}
        )
        allowed = client.post(
            "/v1/flows/prod-db/prompt", json={"user": {"email": "dev@example.com"}}
        )
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["detail"] == "contractors cannot request prod-db"
    assert allowed.status_code == 200 and allowed.json()["allowed"] is True


def test_urgent_on_call_request_is_approved_by_on_request_and_escalated(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(
            client, "prod-db", "oncall@example.com", fields={"urgency": "urgent"}
        )
    assert request["state"] == "escalated"
    assert [entry["event"] for entry in request["history"]] == ["request", "approve", "escalate"]
    approve = request["history"][1]
    assert approve["actor"] == {"email": "oncall@example.com"}
    assert approve["message"] == "on-call, urgent"
    assert request["duration_s"] == 1800  # default_duration
    assert grant_log(grants) == [
        {"action": "grant", "request": request["id"], "user": "oncall@example.com"}
    ]


def test_normal_request_approved_escalated_then_deescalated_by_its_timer(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com", duration=2)
        assert request["state"] == "pending" and request["duration_s"] == 2
        approved = decide(client, request["id"], "approve", "boss@example.com", "ticket OPS-1")
        assert approved.status_code == 200, approved.text
        escalated = approved.json()
        assert escalated["state"] == "escalated"
        assert escalated["expires_at"] == pytest.approx(escalated["escalated_at"] + 2)
        done = wait_for_state(client, request["id"], "deescalated")
        runs = client.get("/v1/runs").json()["runs"]
    assert [entry["event"] for entry in done["history"]] == [
        "request", "approve", "escalate", "deescalate",
    ]  # fmt: skip
    assert done["history"][3]["actor"] is None  # the timer, not a person
    assert [entry["action"] for entry in grant_log(grants)] == ["grant", "remove"]
    after = next(run for run in runs if run["hook"] == "prod-db/after_escalate")
    assert after["status"] == "succeeded"
    assert f"granted {request['id']} approved by boss@example.com" in after["stdout"]


def test_self_approval_and_non_approvers_are_refused(flows_daemon: RunningDaemon) -> None:
    with flows_daemon.client("flows-token") as client:
        own = open_request(client, "prod-db", "boss@example.com")
        self_approved = decide(client, own["id"], "approve", "boss@example.com", "mine")
        other = open_request(client, "prod-db", "dev@example.com")
        stranger = decide(client, other["id"], "approve", "dev2@example.com", "why not")
        still = client.get(f"/v1/requests/{other['id']}").json()
    assert self_approved.status_code == 403
    assert "self-approval" in self_approved.json()["detail"]
    assert stranger.status_code == 403
    assert stranger.json()["detail"] == "dev2@example.com is not an approver of flow prod-db"
    assert still["state"] == "pending"
    assert still["history"][-1]["message"].startswith("refused:")


def test_deny_after_escalation_is_a_conflict(flows_daemon: RunningDaemon) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com")
        assert decide(client, request["id"], "approve", "lead@example.com", "ok").status_code == 200
        denied = decide(client, request["id"], "deny", "boss@example.com")
    assert denied.status_code == 409
    assert "escalated" in denied.json()["detail"]


def test_a_repeated_request_with_its_idempotency_key_opens_one(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    body = {"user": {"email": "oncall@example.com"}, "fields": {"urgency": "urgent"}}
    answers: list[httpx.Response] = []
    start = threading.Barrier(3)

    def deliver() -> None:
        with flows_daemon.client("flows-token") as client:
            start.wait()
            answers.append(client.post("/v1/flows/prod-db/requests", json=body,
                                       headers={"Idempotency-Key": "page-42"}))  # fmt: skip

    def on_request_runs(client: httpx.Client) -> int:
        runs = client.get("/v1/runs", params={"limit": 1000}).json()["runs"]
        return sum(run["hook"] == "prod-db/on_request" for run in runs)

    with flows_daemon.client("flows-token") as client:
        hooks_before = on_request_runs(client)
        threads = [threading.Thread(target=deliver) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        late = client.post("/v1/flows/prod-db/requests", json=body,
                           headers={"Idempotency-Key": "page-42"})  # fmt: skip
        other = client.post("/v1/flows/prod-db/requests", json=body,
                            headers={"Idempotency-Key": "page-43"})  # fmt: skip
        hooks_after = on_request_runs(client)
    assert sorted(answer.status_code for answer in answers) == [200, 200, 201]
    first = next(answer.json() for answer in answers if answer.status_code == 201)
    assert first["state"] == "escalated"
    for repeat in [*answers, late]:
        if repeat.status_code == 200:
            assert repeat.json() == {**first, "duplicate": True}
    assert late.status_code == 200
    assert other.status_code == 201 and other.json()["id"] != first["id"]
    assert hooks_after - hooks_before == 2  # one on_request per key
    assert [g["request"] for g in grant_log(grants)] == [first["id"], other.json()["id"]]


def test_on_approve_veto_leaves_the_request_pending(flows_daemon: RunningDaemon) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com")
        vetoed = decide(client, request["id"], "approve", "boss@example.com")
        after = client.get(f"/v1/requests/{request['id']}").json()
        denied = decide(client, request["id"], "deny", "boss@example.com", "no")
    assert vetoed.status_code == 403 and vetoed.json()["detail"] == "say why you approve"
    assert after["state"] == "pending"
    assert denied.status_code == 200 and denied.json()["state"] == "denied"


def test_sym_import_names_run_unchanged(flows_daemon: RunningDaemon, grants: Path) -> None:
    with flows_daemon.client("flows-token") as client:
        auto = open_request(client, "sym-style", "dev@example.com", fields={"ticket": "OPS-7"})
        manual = open_request(client, "sym-style", "dev@example.com", fields={"ticket": "X-1"})
        refused = decide(client, manual["id"], "approve", "lead@example.com")
        approved = decide(client, manual["id"], "approve", "boss@example.com")
    assert auto["state"] == "escalated"
    assert manual["state"] == "pending"
    assert refused.status_code == 403
    assert approved.json()["state"] == "escalated"
    assert len(grant_log(grants)) == 2


def test_two_approvals_at_once_escalate_once(flows_daemon: RunningDaemon, grants: Path) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com")
    answers: list[int] = []
    start = threading.Barrier(2)

    def approve(approver: str) -> None:
        with flows_daemon.client("flows-token") as client:
            start.wait()
            answers.append(decide(client, request["id"], "approve", approver, "go").status_code)

    threads = [
        threading.Thread(target=approve, args=(who,))
        for who in ("boss@example.com", "lead@example.com")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [200, 409]
    assert [g for g in grant_log(grants) if g["request"] == request["id"]] == [
        {"action": "grant", "request": request["id"], "user": "dev@example.com"}
    ]


@pytest.mark.parametrize("mode", ["raise", "hang"])
def test_failing_on_approve_blocks_the_approval(flows_daemon: RunningDaemon, mode: str) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "fragile", "dev@example.com", fields={"mode": mode})
        answer = decide(client, request["id"], "approve", "boss@example.com")
        after = client.get(f"/v1/requests/{request['id']}").json()
    assert answer.status_code == 403
    expected = "RuntimeError: approval backend down" if mode == "raise" else "timed out"
    assert answer.json()["detail"] == f"on_approve failed, so the approve is blocked: {expected}"
    assert after["state"] == "pending"


def test_failing_on_deescalate_does_not_block_revocation(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "fragile", "dev@example.com")
        assert decide(client, request["id"], "approve", "boss@example.com").status_code == 200
        revoked = decide(client, request["id"], "revoke", "dev@example.com", "done early")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["state"] == "revoked"
    assert [g["action"] for g in grant_log(grants)] == ["grant", "remove"]


def test_failed_deescalation_is_retried_until_it_works(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    (grants / "fail-remove").touch()
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "fragile", "dev@example.com")
        decide(client, request["id"], "approve", "boss@example.com")
        revoke = decide(client, request["id"], "revoke", "boss@example.com")
        assert revoke.status_code == 202
        assert revoke.json()["state"] == "escalated"
        assert "access still granted" in revoke.json()["error"]
        (grants / "fail-remove").unlink()
        done = wait_for_state(client, request["id"], "revoked")
        failed = client.get("/v1/runs", params={"status": "failed"}).json()["runs"]
    assert done["error"] is None
    assert any(run["hook"] == "fragile/deescalate.runbook.py" for run in failed)
    assert [g["action"] for g in grant_log(grants)] == ["grant", "remove"]
    assert "deescalation_failed" in flows_daemon.log_text()


def test_failed_escalation_leaves_the_request_approved_with_the_error(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    (grants / "fail-grant").touch()
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com")
        answer = decide(client, request["id"], "approve", "boss@example.com", "ok")
    assert answer.status_code == 200
    assert answer.json()["state"] == "approved"
    assert "escalate.runbook.py failed" in answer.json()["error"]
    assert "access API answered 500" in answer.json()["error"]


def test_revoking_a_request_whose_escalation_failed_says_access_was_never_granted(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    (grants / "fail-grant").touch()
    (grants / "fail-remove").touch()  # nothing to remove: the removal fails as well
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com")
        approved = decide(client, request["id"], "approve", "boss@example.com", "ok")
        assert approved.json()["state"] == "approved"
        revoked = decide(client, request["id"], "revoke", "dev@example.com")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["state"] == "revoked"
        last = revoked.json()["history"][-1]
        assert last["event"] == "revoke"
        assert last["message"].startswith("revoked before access was granted")
        assert "access still granted" not in revoked.text


@pytest.mark.parametrize("mode", ["approve", "raise"])
def test_pending_request_expires_whatever_its_expiry_hook_does(
    flows_daemon: RunningDaemon, grants: Path, mode: str
) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "stale", "dev@example.com", fields={"mode": mode})
        expired = wait_for_state(client, request["id"], "expired")
        late = decide(client, request["id"], "approve", "boss@example.com")
        deadline = time.monotonic() + 30
        while not (grants / "expiry.log").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    assert late.status_code == 409
    events = [(h["event"], h["message"]) for h in expired["history"]]
    noted = (
        "on_request_expire returned approve; ignored, an expired request always closes"
        if mode == "approve"
        else "on_request_expire failed: RuntimeError: pager down"
    )
    assert [event for event, _ in events] == ["request", "request_expire", "expire"]
    assert events[1][1].startswith(noted), events[1][1]
    assert grant_log(grants) == []
    after = [json.loads(line) for line in (grants / "expiry.log").read_text().splitlines()]
    assert after == [
        {"event": "request_expire", "request": request["id"], "state": "expired",
         "user": "dev@example.com"}
    ]  # fmt: skip


def test_a_request_whose_flow_was_removed_still_expires(
    flows_daemon: RunningDaemon, work_repo: WorkRepo, grants: Path
) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "stale", "dev@example.com")
        for path in (work_repo.work / "flows" / "stale").iterdir():
            path.unlink()
        work_repo.commit({}, "drop the stale flow")
        with flows_daemon.client("admin-token") as admin:
            assert admin.post("/v1/sync").status_code == 200
        expired = wait_for_state(client, request["id"], "expired")
    notes = [h["message"] for h in expired["history"] if h["event"] == "request_expire"]
    assert len(notes) == 1 and notes[0].startswith("expired without its hooks: "), notes
    assert "stale" in notes[0]
    assert not (grants / "expiry.log").exists()


def test_deescalation_timer_survives_kill_and_fires_once(
    flows_daemon: RunningDaemon, grants: Path
) -> None:
    with flows_daemon.client("flows-token") as client:
        request = open_request(client, "prod-db", "dev@example.com", duration=3)
        escalated = decide(client, request["id"], "approve", "boss@example.com", "ok").json()
    flows_daemon.kill()
    while time.time() < escalated["expires_at"] + 0.5:  # the timer falls due while down
        time.sleep(0.1)
    assert [g["action"] for g in grant_log(grants)] == ["grant"]
    flows_daemon.start()
    with flows_daemon.client("flows-token") as client:
        wait_for_state(client, request["id"], "deescalated")
    flows_daemon.terminate()
    flows_daemon.start()  # a second start finds nothing left to fire
    with flows_daemon.client("flows-token") as client:
        assert client.get(f"/v1/requests/{request['id']}").json()["state"] == "deescalated"
    assert [g["action"] for g in grant_log(grants)] == ["grant", "remove"]


def test_bad_flow_input_gets_problems(flows_daemon: RunningDaemon) -> None:
    with (
        flows_daemon.client("flows-token") as client,
        flows_daemon.client("events-token") as events,
    ):
        cases = [
            (client.post("/v1/flows/nope/requests", json={"user": {"email": "a@b.c"}}), 404),
            (client.post("/v1/flows/..%2Fetc/requests", json={"user": {"email": "a@b.c"}}), 404),
            (client.post("/v1/flows/prod-db/requests", json={"user": {"email": "nobody"}}), 422),
            (client.post("/v1/flows/prod-db/requests", content=b"{not json"), 400),
            (
                client.post(
                    "/v1/flows/prod-db/requests",
                    json={"user": {"email": "a@b.c"}, "duration": "soon"},
                ),
                422,
            ),
            (client.post("/v1/requests/missing/approve", json={"user": {"email": "a@b.c"}}), 404),
            (client.get("/v1/requests", params={"state": "bogus"}), 422),
            (events.post("/v1/flows/prod-db/requests", json={"user": {"email": "a@b.c"}}), 403),
        ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/problem+json"


def cli(daemon: RunningDaemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOKRUNNER_TOKEN": "flows-token"}
    return subprocess.run(
        [sys.executable, "-m", "hookrunner", "flow", *args, "--config", str(daemon.config)],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_flow_cli_prompt_says_who_may_ask_and_why_not(flows_daemon: RunningDaemon) -> None:
    allowed = cli(flows_daemon, "prompt", "prod-db", "--user", "dev@example.com", "--human")
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout == "dev@example.com may open a request on prod-db\n"
    piped = cli(flows_daemon, "prompt", "prod-db", "--user", "dev@example.com")
    assert json.loads(piped.stdout) == {"flow": "prod-db", "allowed": True}
    refused = cli(flows_daemon, "prompt", "prod-db", "--user", "x@contractor.example.com")
    assert refused.returncode == 2 and refused.stdout == ""
    assert "contractors cannot request prod-db" in refused.stderr


def test_flow_cli_request_approve_list_show(flows_daemon: RunningDaemon, grants: Path) -> None:
    opened = cli(
        flows_daemon, "request", "prod-db", "--user", "dev@example.com", "--field", "db=orders",
        "--duration", "10m", "--json",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    request = json.loads(opened.stdout)
    assert request["fields"] == {"db": "orders"} and request["duration_s"] == 600
    refused = cli(flows_daemon, "approve", request["id"], "--user", "boss@example.com")
    assert refused.returncode == 2 and "say why you approve" in refused.stderr
    approved = cli(
        flows_daemon, "approve", request["id"], "--user", "boss@example.com", "--reason", "INC-9",
        "--human",
    )  # fmt: skip
    assert approved.returncode == 0, approved.stderr
    assert approved.stdout.splitlines()[0].split()[:2] == [request["id"], "escalated"]
    assert "  approve by boss@example.com (INC-9)" in approved.stdout
    listed = cli(flows_daemon, "list", "--state", "escalated", "--human")
    assert [line.split()[0] for line in listed.stdout.splitlines()] == [request["id"]]
    # Not on a terminal, the output is JSON unless --human asks for text.
    piped = cli(flows_daemon, "list", "--state", "escalated")
    assert [json.loads(line)["id"] for line in piped.stdout.splitlines()] == [request["id"]]
    shown = cli(flows_daemon, "show", request["id"], "--json")
    assert json.loads(shown.stdout)["history"][-1]["event"] == "escalate"
    revoked = cli(flows_daemon, "revoke", request["id"], "--user", "dev@example.com", "--human")
    assert revoked.returncode == 0 and " revoked " in revoked.stdout
    assert [g["action"] for g in grant_log(grants)] == ["grant", "remove"]
