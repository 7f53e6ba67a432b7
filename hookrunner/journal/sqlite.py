"""The SQLite journal: events, runs and delivery keys, in WAL mode with full fsync.

Every query lives here, behind plain methods, so another backend can replace this
module without touching its callers. One connection, guarded by a lock: SQLite
serialises writers anyway, and the calls are short.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hookrunner.execution import RunResult
from hookrunner.journal.records import Accepted, EventRecord, JournalError, RunRecord

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        event_id TEXT NOT NULL REFERENCES events(id),
        hook TEXT NOT NULL,
        status TEXT NOT NULL,
        outcome TEXT,
        attempt INTEGER NOT NULL DEFAULT 0,
        next_at REAL NOT NULL,
        commit_sha TEXT,
        exit_code INTEGER,
        stdout TEXT NOT NULL DEFAULT '',
        stderr TEXT NOT NULL DEFAULT '',
        truncated INTEGER NOT NULL DEFAULT 0,
        started_at REAL,
        duration_s REAL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX runs_due ON runs(status, next_at);
    CREATE INDEX runs_event ON runs(event_id);
    CREATE TABLE deliveries (
        key TEXT PRIMARY KEY,
        response TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
)

_RUN_COLUMNS = (
    "id, event_id, hook, status, outcome, attempt, next_at, commit_sha, exit_code, stdout,"
    " stderr, truncated, started_at, duration_s, created_at, updated_at"
)


def _run(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        run_id=row["id"],
        event_id=row["event_id"],
        hook=row["hook"],
        status=row["status"],
        outcome=row["outcome"],
        attempt=row["attempt"],
        next_attempt_at=row["next_at"],
        commit=row["commit_sha"],
        exit_code=row["exit_code"],
        stdout=row["stdout"],
        stderr=row["stderr"],
        truncated=bool(row["truncated"]),
        started_at=row["started_at"],
        duration_s=row["duration_s"],
        created_at=row["created_at"],
    )


class SqliteJournal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        with self._lock:
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        """One transaction; a full disk or I/O error surfaces as :class:`JournalError`."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for sql, params in statements:
                    self._db.execute(sql, params)
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise JournalError(str(exc)) from exc

    def accept(
        self, kind: str, body: dict[str, Any], hooks: list[str], dedup_key: str | None = None
    ) -> Accepted:
        """Persist an event and its queued runs in one transaction; replay a known delivery."""
        now = time.time()
        event_id = str(uuid.uuid4())
        run_ids = [str(uuid.uuid4()) for _ in hooks]
        accepted = Accepted(event_id, run_ids, duplicate=False)
        with self._lock:
            if dedup_key is not None:
                known = self._delivery(dedup_key)
                if known is not None:
                    return known
            statements: list[tuple[str, tuple[Any, ...]]] = [
                (
                    "INSERT INTO events (id, kind, body, created_at) VALUES (?, ?, ?, ?)",
                    (event_id, kind, json.dumps(body), now),
                )
            ]
            statements += [
                (
                    "INSERT INTO runs (id, event_id, hook, status, next_at, created_at, updated_at)"
                    " VALUES (?, ?, ?, 'queued', ?, ?, ?)",
                    (run_id, event_id, hook, now, now, now),
                )
                for run_id, hook in zip(run_ids, hooks, strict=True)
            ]
            if dedup_key is not None:
                statements.append(self._delivery_insert(dedup_key, accepted.to_json(), now))
            self._write(statements)
        return accepted

    def _delivery(self, key: str) -> Accepted | None:
        row = self._db.execute("SELECT response FROM deliveries WHERE key = ?", (key,)).fetchone()
        return Accepted.from_json(row["response"]) if row else None

    @staticmethod
    def _delivery_insert(key: str, response: str, now: float) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO deliveries (key, response, created_at) VALUES (?, ?, ?)",
            (key, response, now),
        )

    def remember_delivery(self, key: str) -> bool:
        """Record a delivery key that creates no event; ``False`` if it was seen before."""
        with self._lock:
            if self._delivery(key) is not None:
                return False
            self._write(
                [self._delivery_insert(key, Accepted("", [], False).to_json(), time.time())]
            )
            return True

    def claim_due(self, now: float | None = None) -> RunRecord | None:
        """Move the oldest due queued run to ``running`` and count the attempt."""
        now = time.time() if now is None else now
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"UPDATE runs SET status = 'running', attempt = attempt + 1, updated_at = ?"
                    f" WHERE id = (SELECT id FROM runs WHERE status = 'queued' AND next_at <= ?"
                    f" ORDER BY next_at LIMIT 1) RETURNING {_RUN_COLUMNS}",
                    (now, now),
                ).fetchone()
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return _run(row) if row else None

    def finish(self, result: RunResult, status: str, next_at: float | None = None) -> None:
        """Record an attempt's result; ``status`` is the run's new lifecycle state."""
        with self._lock:
            self._write(
                [
                    (
                        "UPDATE runs SET status = ?, outcome = ?, commit_sha = ?, exit_code = ?,"
                        " stdout = ?, stderr = ?, truncated = ?, started_at = ?, duration_s = ?,"
                        " next_at = COALESCE(?, next_at), updated_at = ? WHERE id = ?",
                        (
                            status,
                            result.status,
                            result.commit,
                            result.exit_code,
                            result.stdout,
                            result.stderr,
                            int(result.truncated),
                            result.started_at,
                            result.duration_s,
                            next_at,
                            time.time(),
                            result.run_id,
                        ),
                    )
                ]
            )

    def interrupted_runs(self) -> list[RunRecord]:
        """Runs a crash left ``running``: their attempt was cut short."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE status = 'running'"
            ).fetchall()
        return [_run(row) for row in rows]

    def next_due_at(self) -> float | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_at) FROM runs WHERE status = 'queued'"
            ).fetchone()
        return row[0] if row else None

    def run(self, run_id: str) -> RunRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return _run(row) if row else None

    def runs(
        self, status: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """Newest first, optionally filtered."""
        clauses, params = [], []
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if event_id is not None:
            clauses.append("event_id = ?")
            params.append(event_id)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_RUN_COLUMNS} FROM runs {where} ORDER BY created_at DESC, rowid DESC"
                " LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_run(row) for row in rows]

    def event(self, event_id: str) -> EventRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, kind, body, created_at FROM events WHERE id = ?", (event_id,)
            ).fetchone()
        if row is None:
            return None
        return EventRecord(row["id"], row["kind"], json.loads(row["body"]), row["created_at"])

    def counts(self) -> dict[str, int]:
        """How many runs are in each lifecycle state."""
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall()
        return {row[0]: row[1] for row in rows}
