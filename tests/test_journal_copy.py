"""``hookrunner migrate`` and ``hookrunner journal copy``: a single host's SQLite journal
moves into PostgreSQL whole, so the host can grow into a fleet."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from hookrunner.journal import Delivery, HistoryEntry, RequestRecord, open_journal
from hookrunner.journal.postgres import PostgresJournal
from hookrunner.journal.sqlite import MIGRATIONS, SqliteJournal


def hookrunner(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from hookrunner.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def config(tmp_path: Path, url: str = "") -> Path:
    path = tmp_path / "hookrunner.toml"
    path.write_text(f'[state]\ndir = "{tmp_path / "state"}"\n[journal]\nurl = "{url}"\n')
    return path


def test_copy_moves_every_row_and_the_target_takes_over(tmp_path: Path, postgres_url: str) -> None:
    source = SqliteJournal(tmp_path / "state" / "hookrunner.db")
    accepted = source.accept("session-open", {"sid": "s1"}, ["h"], Delivery("session", "K"))
    source.claim_due()  # left running, as by a crash
    now = time.time()
    record = RequestRecord("req-1", "db", "pending", "ana@example.com", {"x": 1}, 60.0, now)
    entry = HistoryEntry("request", "ana@example.com", now)
    source.create_request(record, entry, (("expire", now + 600),), "flow:K")
    source.note("req-1", HistoryEntry("approve", "bob@example.com", now + 1, "no"), "refused")
    source.add_messages("req-1", [("announce", "slack", {"destination": {"name": "#ops"}})], now)
    before = (source.runs(), source.request("req-1"))
    source.close()

    copied = hookrunner("journal", "copy", "--to", postgres_url, "--config", str(config(tmp_path)))
    assert copied.returncode == 0, copied.stderr
    assert (
        "1 events, 1 runs, 2 deliveries, 1 requests, 2 request_history, 1 timers,"
        " 1 slack_messages" in copied.stdout
    )

    target = PostgresJournal(postgres_url)
    try:
        assert (target.runs(), target.request("req-1")) == before
        again = target.accept("session-open", {}, ["h"], Delivery("session", "K"))
        assert again.duplicate and again.run_ids == accepted.run_ids
        assert target.requested("flow:K") == "req-1"
        # The run the single host left running is cut short and retried by the fleet.
        assert [r.run_id for r in target.interrupted_runs()] == accepted.run_ids
        (timer,) = target.claim_timers(now + 600)
        assert timer.kind == "expire"
        target.retry_timer("req-1", "deescalate", now)  # new timers get fresh ids
        target.add_messages("req-1", [("requester", "slack", {})], now)
        assert [m.kind for m in target.due_messages(now)] == ["announce", "requester"]
    finally:
        target.close()

    refused = hookrunner("journal", "copy", "--to", postgres_url, "--config", str(config(tmp_path)))
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines() == [
        "hookrunner: journal copy: the target journal already has events; refusing to mix"
    ]


def test_copy_errors_are_one_line(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    missing = hookrunner(
        "journal", "copy", "--to", "postgresql://x@127.0.0.1:1/x", "--config", str(cfg)
    )
    assert missing.returncode != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert "no SQLite journal to copy" in missing.stderr
    open_journal(tmp_path / "state").close()
    bad = hookrunner("journal", "copy", "--to", "mysql://x", "--config", str(cfg))
    assert bad.stderr.strip() == "hookrunner: --to: must be a postgresql://… URL"
    down = hookrunner(
        "journal", "copy", "--to", "postgresql://x@127.0.0.1:1/x", "--config", str(cfg)
    )
    assert down.returncode != 0 and len(down.stderr.strip().splitlines()) == 1
    assert down.stderr.startswith("hookrunner: journal copy: database:")


def test_migrate_upgrades_an_old_journal_and_refuses_a_newer_one(tmp_path: Path) -> None:
    path = tmp_path / "state" / "hookrunner.db"
    path.parent.mkdir()
    with sqlite3.connect(path) as old:  # as the previous release left it
        for number, script in enumerate(MIGRATIONS[:5], start=1):
            old.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")
    cfg = config(tmp_path)
    done = hookrunner("migrate", "--config", str(cfg))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"journal: schema version {len(MIGRATIONS)}, up to date"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    newer = hookrunner("migrate", "--config", str(cfg))
    assert newer.returncode != 0
    assert newer.stderr.strip().splitlines() == [
        f"hookrunner: journal: {path}: journal schema version {len(MIGRATIONS) + 1} is newer"
        f" than this hookrunner knows ({len(MIGRATIONS)}); upgrade hookrunner"
    ]


def test_migrate_brings_a_postgres_journal_up_to_date(tmp_path: Path, postgres_url: str) -> None:
    done = hookrunner("migrate", "--config", str(config(tmp_path, postgres_url)))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("journal: schema version 1")
