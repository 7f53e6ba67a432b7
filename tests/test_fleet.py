"""A fleet: real ``hookrunner serve`` processes sharing one real PostgreSQL (DESIGN §14).

Requests move between hosts, transitions happen once, timers fire once, and the work of
a host that dies is finished by another once its leases lapse. A database outage turns
intake away with 503 and loses nothing.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import GitDaemon, WorkRepo, wait_for_port
from daemon_harness import RunningDaemon
from test_flows import (
    PROD_DB_IMPL,
    PROD_DB_TOML,
    RUNBOOK,
    decide,
    flow_files,
    grant_log,
    open_request,
)

from hookrunner.journal.records import FINAL_STATES

LEASE = 2
SLOW_HOOK = (
    "import json, os, time\n"
    "sid = json.loads(os.environ['HOOP_RUNBOOK_HOOK_PAYLOAD'])['sid']\n"
    "time.sleep(float(os.environ['HOOK_SLEEP']))\n"
    "with open(os.environ['LEDGER'], 'a') as f: f.write(sid + '\\n')\n"
)

# The escalation runbook says when it starts, then takes ESCALATE_SLEEP before granting.
ESCALATE_RUNBOOK = (
    "import os, time\n"
    "with open(os.path.join(os.environ['GRANTS_DIR'], 'escalating'), 'a') as f: f.write('x')\n"
    "time.sleep(float(os.environ['ESCALATE_SLEEP']))\n"
) + RUNBOOK.replace("ACTION", "grant")


class Fleet:
    def __init__(self, tmp_path: Path, remote: str, url: str, grants: Path) -> None:
        self.ledger = tmp_path / "ledger"
        self.hosts: dict[str, RunningDaemon] = {}
        # a's hooks are slow enough to be killed in the middle of one.
        for name, sleep, escalate, workers in (("a", "1", "5", 2), ("b", "0", "0", 4)):
            (tmp_path / name).mkdir()
            self.hosts[name] = RunningDaemon(
                tmp_path / name,
                remote,
                executor={
                    "interpreter": sys.executable,
                    "timeout": 30,
                    "max_concurrency": workers,
                    "env": {
                        "GRANTS_DIR": str(grants),
                        "LEDGER": str(self.ledger),
                        "HOOK_SLEEP": sleep,
                        "ESCALATE_SLEEP": escalate,
                    },
                },
                retry={"backoff": [0.2, 0.2], "max_attempts": 5},
                journal={"url": url, "lease": LEASE},
            )

    def __getitem__(self, name: str) -> RunningDaemon:
        return self.hosts[name]

    def ledger_lines(self) -> list[str]:
        return self.ledger.read_text().split() if self.ledger.exists() else []


@pytest.fixture
def fleet(
    tmp_path: Path, git_daemon: GitDaemon, work_repo: WorkRepo, grants: Path, postgres_url: str
) -> Iterator[Fleet]:
    work_repo.commit(
        {
            **flow_files("prod-db", PROD_DB_IMPL, PROD_DB_TOML),
            "flows/prod-db/escalate.runbook.py": ESCALATE_RUNBOOK,
            "hoop-hooks/session-close.runbook.py": SLOW_HOOK,
        }
    )
    fleet = Fleet(tmp_path, git_daemon.url("remote.git"), postgres_url, grants)
    yield fleet
    for host in fleet.hosts.values():
        host.stop()


@pytest.fixture
def grants(tmp_path: Path) -> Path:
    directory = tmp_path / "grants"
    directory.mkdir()
    return directory


def wait_until(check: Any, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {value!r}"
        time.sleep(0.1)


def all_runs(host: RunningDaemon) -> list[dict[str, Any]]:
    with host.client("read-token") as reader:
        runs: list[dict[str, Any]] = reader.get("/v1/runs", params={"limit": 1000}).json()["runs"]
    return runs


def send_closes(host: RunningDaemon, sids: list[str]) -> None:
    with host.client("events-token") as events:
        for sid in sids:
            answer = events.post("/v1/events/session-close", json={"sid": sid, "exit_code": 0})
            assert answer.status_code == 202, answer.text


def test_a_request_opened_on_one_host_is_approved_on_another_and_deescalated_once(
    fleet: Fleet, grants: Path
) -> None:
    fleet["a"].start()
    fleet["b"].start()
    with fleet["a"].client("flows-token") as a, fleet["b"].client("flows-token") as b:
        request = open_request(a, "prod-db", "dev@example.com", duration=2)
        assert b.get(f"/v1/requests/{request['id']}").json()["state"] == "pending"
        approved = decide(b, request["id"], "approve", "boss@example.com", "ok")
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "escalated"
        # Both hosts run their timers; the deescalation runbook runs on one of them.
        wait_until(
            lambda: a.get(f"/v1/requests/{request['id']}").json()["state"] == "deescalated",
            what="deescalation",
        )
        removed_at = time.time()
        # Long enough for any lease on the timer to lapse and a second host to try.
        time.sleep(3 * LEASE)
        history = b.get(f"/v1/requests/{request['id']}").json()["history"]
    assert [g["action"] for g in grant_log(grants)] == ["grant", "remove"]
    assert [h["event"] for h in history if h["event"] in ("escalate", "deescalate")] == [
        "escalate",
        "deescalate",
    ]
    skew = removed_at - (approved.json()["expires_at"])
    print(f"deescalation fired {skew:.2f}s after expiry")


def test_racing_approvals_and_denials_across_hosts_give_one_transition(
    fleet: Fleet, grants: Path
) -> None:
    fleet["a"].start()
    fleet["b"].start()
    with fleet["a"].client("flows-token") as a:
        request = open_request(a, "prod-db", "dev@example.com")
    start = threading.Barrier(40)
    answers: list[int] = []

    def act(n: int) -> None:
        host = fleet["a" if n % 2 else "b"]
        event = "approve" if n < 20 else "deny"
        who = "boss@example.com" if n % 3 else "lead@example.com"
        with host.client("flows-token") as client:
            start.wait()
            answers.append(decide(client, request["id"], event, who, "because").status_code)

    threads = [threading.Thread(target=act, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(answers) == [200] + [409] * 39
    with fleet["b"].client("flows-token") as b:
        final = b.get(f"/v1/requests/{request['id']}").json()
    decisions = [h["event"] for h in final["history"] if h["event"] in ("approve", "deny")]
    assert len(decisions) == 1
    grants_made = [g for g in grant_log(grants) if g["action"] == "grant"]
    assert len(grants_made) == (1 if final["state"] == "escalated" else 0)


def runs_left_running(postgres_url: str) -> set[str]:
    """Read straight from the journal, so no host can change the answer while it is read."""
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT id FROM runs WHERE state = 'running'").fetchall()
    return {row[0] for row in rows}


def test_runs_of_a_host_killed_mid_run_are_finished_by_another(
    fleet: Fleet, postgres_url: str
) -> None:
    host_a = fleet["a"]
    host_a.start()
    sids = [f"close-{n}" for n in range(500)]
    send_closes(host_a, sids)
    wait_until(
        lambda: [run["run_id"] for run in all_runs(host_a) if run["status"] == "running"],
        what="a running run",
    )
    host_a.kill()  # SIGKILL amid 500 accepted events: its leases are left to lapse
    killed_at = time.monotonic()
    # Taken after the kill: a run seen running just before it may have finished in time.
    cut_short = runs_left_running(postgres_url)
    assert cut_short, "the kill caught no run in flight"
    fleet["b"].start()
    with fleet["b"].client("read-token") as reader:
        # b sees the attempt cut short once the lease has lapsed, and queues it again.
        wait_until(
            lambda: all(
                reader.get(f"/v1/runs/{run_id}").json()["outcome"] is not None
                for run_id in cut_short
            ),
            what="the runs cut short to be taken over",
        )
    takeover_s = time.monotonic() - killed_at
    print(f"lease takeover after kill: {takeover_s:.2f}s (lease {LEASE}s)")
    # Not before the lease lapsed: it was last renewed at most a third of it before the kill.
    assert takeover_s >= LEASE * 2 / 3 - 0.2
    runs = wait_until(
        lambda: (
            (found := all_runs(fleet["b"]))
            and len(found) == len(sids)
            and all(run["status"] == "succeeded" for run in found)
            and found
        ),
        timeout=120,
        what="every run to succeed on b",
    )
    assert {run["run_id"] for run in runs if run["attempt"] > 1} >= cut_short
    seen = collections.Counter(fleet.ledger_lines())
    assert set(seen) == set(sids), "every event accepted by the dead host ran"
    assert sum(count - 1 for count in seen.values()) <= 2  # at most its runs in flight


def test_an_escalation_cut_short_by_a_kill_is_finished_by_another_host(
    fleet: Fleet, grants: Path
) -> None:
    fleet["a"].start()
    fleet["b"].start()
    with fleet["a"].client("flows-token") as a:
        request = open_request(a, "prod-db", "dev@example.com")

    def approve_on_a() -> None:
        with fleet["a"].client("flows-token") as client, contextlib.suppress(httpx.HTTPError):
            decide(client, request["id"], "approve", "boss@example.com", "ok")

    approving = threading.Thread(target=approve_on_a)
    approving.start()
    wait_until(lambda: (grants / "escalating").exists(), what="a's escalation runbook")
    fleet["a"].kill()  # mid-runbook: access not granted yet
    approving.join(60)
    with fleet["b"].client("flows-token") as b:
        escalated = wait_until(
            lambda: (
                (found := b.get(f"/v1/requests/{request['id']}").json())["state"] == "escalated"
                and found
            ),
            what="b to escalate",
        )
    assert [g["action"] for g in grant_log(grants)] == ["grant"]
    assert [h["event"] for h in escalated["history"] if h["event"] == "escalate"] == ["escalate"]


def test_a_database_outage_under_load_answers_503_and_loses_nothing(
    fleet: Fleet, postgres_server: Any
) -> None:
    host = fleet["b"]  # its hooks are quick: the queue drains while the load goes on
    host.start()
    answers: list[tuple[str, int]] = []  # appended by the sender, read as it grows
    stopping = threading.Event()

    def load() -> None:
        with host.client("events-token") as events:
            for n in itertools.count():
                if stopping.is_set():
                    return
                sid = f"load-{n}"
                body = {"sid": sid, "exit_code": 0}
                answer = events.post("/v1/events/session-close", json=body)
                answers.append((sid, answer.status_code))

    sender = threading.Thread(target=load)
    sender.start()
    try:
        wait_until(lambda: _count(answers, 202) >= 10, what="events before")
        postgres_server.stop()
        try:
            outage_ends = time.monotonic() + 10
            with host.client("read-token") as reader:
                refused = wait_until(
                    lambda: _refusal(reader), what="a 503 while the database is away"
                )
                assert reader.get("/healthz").status_code == 200  # the process itself is fine
            assert refused.headers["Retry-After"]
            assert refused.headers["content-type"].startswith("application/problem+json")
            time.sleep(max(0.0, outage_ends - time.monotonic()))
        finally:
            postgres_server.start()
        during = len(answers)
        wait_until(lambda: _count(answers[during:], 202) >= 10, what="intake to recover")
    finally:
        stopping.set()
        sender.join(60)
    statuses = collections.Counter(status for _sid, status in answers)
    assert set(statuses) == {202, 503}, statuses
    accepted = {sid for sid, status in answers if status == 202}
    runs = wait_until(
        lambda: (
            len(found := all_runs(host)) >= len(accepted)
            and all(run["status"] in FINAL_STATES for run in found)
            and found
        ),
        timeout=90,  # inside the test's own timeout, so a failure says which runs are where
        what="every accepted event's run to end",
    )
    failed = [(run["run_id"], run["status"]) for run in runs if run["status"] != "succeeded"]
    assert not failed, failed
    assert accepted <= set(fleet.ledger_lines()), "an accepted event was lost"


def _count(answers: list[tuple[str, int]], status: int) -> int:
    return sum(1 for _sid, answered in list(answers) if answered == status)


def _refusal(reader: httpx.Client) -> httpx.Response | None:
    """A read while the journal is away: 503, the same as intake gets."""
    answer = reader.get("/v1/runs", params={"limit": 1})
    return answer if answer.status_code == 503 else None


def test_wait_on_one_host_answers_when_another_host_ran_the_event(
    fleet: Fleet, tmp_path: Path, postgres_url: str
) -> None:
    fleet["b"].start()
    # A host that never gets a snapshot claims nothing: only b can run what it accepts.
    (tmp_path / "cloneless").mkdir()
    cloneless = RunningDaemon(
        tmp_path / "cloneless",
        str(tmp_path / "no-such-repo.git"),
        executor={"interpreter": sys.executable, "timeout": 30},
        journal={"url": postgres_url, "lease": LEASE},
    )
    cloneless.start(expect_ready=False)
    try:
        wait_for_port(cloneless.port, 30)
        with cloneless.client("events-token") as events:
            started = time.monotonic()
            answer = events.post(
                "/v1/events/session-close?wait=true", json={"sid": "elsewhere", "exit_code": 0}
            )
            took = time.monotonic() - started
    finally:
        cloneless.stop()
    assert answer.status_code == 200, answer.text
    assert [run["status"] for run in answer.json()["runs"]] == ["succeeded"]
    assert took < 15, f"{took:.1f}s: the wait ran to its bound instead of seeing b's answer"
    assert fleet.ledger_lines() == ["elsewhere"]
