"""Intake that must not be fooled: per-source dedup namespaces and over-deep JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import GitDaemon
from daemon_harness import GIT_SECRET, RunningDaemon, wait_for_run
from test_daemon import hoop_webhook

from hookrunner.journal import Delivery
from hookrunner.journal.sqlite import MIGRATIONS, SqliteJournal


@pytest.fixture
def daemon(tmp_path: Path, git_daemon: GitDaemon) -> Iterator[RunningDaemon]:
    running = RunningDaemon(tmp_path, git_daemon.url("remote.git"))
    running.start()
    yield running
    running.stop()


def standard_git_push(message_id: str) -> tuple[bytes, dict[str, str]]:
    """A push signed the Standard Webhooks way with the git secret."""
    body = json.dumps({"ref": "refs/heads/main"}).encode()
    timestamp = str(int(time.time()))
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(GIT_SECRET.encode(), signed, hashlib.sha256).digest()
    headers = {
        "webhook-id": message_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }
    return body, headers


def test_an_id_from_one_source_never_suppresses_another(daemon: RunningDaemon) -> None:
    shared_id = "msg_2Z0wKcBq"
    push, push_headers = standard_git_push(shared_id)
    hoop_event = {"event_type": "session.open", "id": "hoop-s-1", "connection": "pg"}
    hoop, hoop_headers = hoop_webhook(shared_id, hoop_event, datetime.now(UTC))
    with daemon.client(None) as anonymous, daemon.client("admin-token") as admin:
        first_push = anonymous.post("/v1/webhooks/git", content=push, headers=push_headers)
        assert first_push.json() == {"refresh": "queued"}
        opened = anonymous.post("/v1/webhooks/hoop", content=hoop, headers=hoop_headers)
        assert opened.status_code == 202 and not opened.json().get("duplicate"), opened.text
        direct = admin.post(
            "/v1/events/session-open",
            json={"sid": "direct-1", "connection_name": "pg"},
            headers={"Idempotency-Key": shared_id},
        )
        assert direct.status_code == 202 and not direct.json().get("duplicate")
        assert direct.json()["event_id"] != opened.json()["event_id"]
        for run_id in (*opened.json()["run_ids"], *direct.json()["run_ids"]):
            assert wait_for_run(admin, run_id)["status"] == "succeeded"
        # Within its own namespace each still deduplicates.
        again = anonymous.post("/v1/webhooks/git", content=push, headers=push_headers)
        assert again.json() == {"refresh": "duplicate"}
        hoop_again = anonymous.post("/v1/webhooks/hoop", content=hoop, headers=hoop_headers)
        assert hoop_again.json()["duplicate"] is True
        assert hoop_again.json()["event_id"] == opened.json()["event_id"]


def test_old_delivery_keys_keep_their_meaning_after_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "hookrunner.db"
    db = sqlite3.connect(path, isolation_level=None)
    for number, script in enumerate(MIGRATIONS[:2], start=1):
        db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def answer(event_id: str, run_ids: list[str]) -> str:  # as the previous release stored it
        return json.dumps({"event_id": event_id, "run_ids": run_ids})

    hoop_answer = answer("event-1", ["run-1"])
    old_rows = [
        ("idem:session-open:K1", answer("event-2", ["run-2"])),
        ("webhook:M1", hoop_answer),
        ("webhook:G1", answer("", [])),
        ("github:D1", answer("", [])),
        ("idem:flow:db-access:K2", json.dumps({"request_id": "request-1"})),
    ]
    db.executemany("INSERT INTO deliveries VALUES (?, ?, 1.0)", old_rows)
    for event_id, run_id in (("event-1", "run-1"), ("event-2", "run-2")):
        db.execute("INSERT INTO events VALUES (?, 'session-open', '{}', 1.0)", (event_id,))
        db.execute(
            "INSERT INTO runs (id, event_id, hook, status, next_at, created_at, updated_at)"
            " VALUES (?, ?, 'h', 'succeeded', 1, 1, 1)",
            (run_id, event_id),
        )
    db.close()

    journal = SqliteJournal(path)
    try:
        assert journal.accept("session-open", {}, [], Delivery("session", "session-open:K1")) == (
            "event-2",
            ["run-2"],
            True,
        )
        hoop = journal.accept("session-open", {}, [], Delivery("hoop_webhook", "M1"))
        assert hoop.duplicate and hoop.event_id == "event-1"
        assert not journal.remember_delivery(Delivery("git_webhook", "webhook:G1"))
        assert not journal.remember_delivery(Delivery("git_webhook", "github:D1"))
        assert journal.requested("idem:flow:db-access:K2") == "request-1"
        # The push's id no longer blocks a hoop delivery with the same id, nor the reverse.
        assert not journal.accept("session-open", {}, [], Delivery("hoop_webhook", "G1")).duplicate
        assert journal.remember_delivery(Delivery("git_webhook", "webhook:M1"))
    finally:
        journal.close()


def nested(depth: int) -> bytes:
    return b'{"sid": "deep", "exit_code": 0, "output": ' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize("depth", [100_000, 5_000, 900])
def test_over_deep_json_is_a_problem_never_a_500(daemon: RunningDaemon, depth: int) -> None:
    with daemon.client("admin-token") as admin:
        for path in ("/v1/events/session-close", "/v1/flows/any/requests"):
            response = admin.post(path, content=nested(depth))
            assert 400 <= response.status_code < 500, (path, response.status_code)
            assert response.headers["content-type"] == "application/problem+json"
        assert admin.get("/healthz").status_code == 200
