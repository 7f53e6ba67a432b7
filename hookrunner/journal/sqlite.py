"""The SQLite journal: events, runs and delivery keys, in WAL mode with full fsync.

Every query lives here, behind plain methods, so another backend can replace this
module without touching its callers. One connection, guarded by a lock: SQLite
serialises writers anyway, and the calls are short.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hookrunner.execution import RunResult
from hookrunner.journal.records import (
    Accepted,
    Delivery,
    EventRecord,
    HistoryEntry,
    JournalError,
    RequestRecord,
    RunRecord,
    TimerRecord,
    Transition,
    plain_object,
)

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
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY,
        flow TEXT NOT NULL,
        state TEXT NOT NULL,
        requester TEXT NOT NULL,
        fields TEXT NOT NULL,
        duration_s REAL NOT NULL,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        escalated_at REAL,
        expires_at REAL
    );
    CREATE INDEX requests_state ON requests(state, created_at);
    CREATE TABLE request_history (
        request_id TEXT NOT NULL REFERENCES requests(id),
        event TEXT NOT NULL,
        actor TEXT,
        at REAL NOT NULL,
        message TEXT
    );
    CREATE INDEX request_history_request ON request_history(request_id);
    CREATE TABLE timers (
        id INTEGER PRIMARY KEY,
        request_id TEXT NOT NULL REFERENCES requests(id),
        kind TEXT NOT NULL,
        due_at REAL NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 0,
        done_at REAL
    );
    CREATE INDEX timers_due ON timers(done_at, due_at);
    """,
    # Deliveries get a namespace per source. Old keys carried it as a prefix, and a hoop
    # webhook and a Standard-Webhooks push shared ``webhook:``; a push created no event,
    # so its recorded answer has an empty event id.
    """
    CREATE TABLE delivery_keys (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source, key)
    );
    INSERT INTO delivery_keys (source, key, response, created_at)
    SELECT
        CASE
            WHEN key LIKE 'idem:flow:%' THEN 'flow_request'
            WHEN key LIKE 'idem:%' THEN 'session'
            WHEN key LIKE 'webhook:%' AND json_extract(response, '$.event_id') <> ''
                THEN 'hoop_webhook'
            ELSE 'git_webhook'
        END,
        CASE
            WHEN key LIKE 'idem:flow:%' THEN key
            WHEN key LIKE 'idem:%' THEN substr(key, 6)
            WHEN key LIKE 'webhook:%' AND json_extract(response, '$.event_id') <> ''
                THEN substr(key, 9)
            ELSE key
        END,
        response,
        created_at
    FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE delivery_keys RENAME TO deliveries;
    """,
    """
    ALTER TABLE runs ADD COLUMN peak_memory_bytes INTEGER;
    ALTER TABLE runs ADD COLUMN cpu_s REAL;
    """,
    """
    ALTER TABLE requests ADD COLUMN step_outputs TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE request_history ADD COLUMN transition INTEGER NOT NULL DEFAULT 1;
    """,
    """
    ALTER TABLE runs ADD COLUMN replay_of TEXT REFERENCES runs(id);
    """,
)

_REQUEST_COLUMNS = (
    "id, flow, state, requester, fields, duration_s, error, created_at, escalated_at,"
    " expires_at, step_outputs"
)
# Columns a transition may set besides the state.
_REQUEST_UPDATABLE = frozenset({"error", "escalated_at", "expires_at", "step_outputs"})

_RUN_COLUMNS = (
    "id, event_id, hook, status, outcome, attempt, next_at, commit_sha, exit_code, stdout,"
    " stderr, truncated, started_at, duration_s, created_at, updated_at, peak_memory_bytes, cpu_s"
)
_RUN_INSERT = f"INSERT INTO runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 18)})"
_RUN_SELECT = f"{_RUN_COLUMNS}, replay_of"
# A succeeded replay resolves the dead run it replays, and that run's own original.
_RESOLVE_REPLAYED = """
    WITH RECURSIVE chain(id) AS (
        SELECT replay_of FROM runs WHERE id = ?
        UNION SELECT runs.replay_of FROM runs JOIN chain ON runs.id = chain.id
    )
    UPDATE runs SET status = 'replayed', updated_at = ?
    WHERE status = 'dead' AND id IN (SELECT id FROM chain WHERE id IS NOT NULL)
"""


def _finished_run_row(result: RunResult, now: float) -> tuple[Any, ...]:
    status = "succeeded" if result.status == "succeeded" else "failed"
    return (
        result.run_id, result.event_id, result.hook, status, result.status, result.attempt,
        now, result.commit, result.exit_code, result.stdout, result.stderr,
        int(result.truncated), result.started_at, result.duration_s, now, now,
        result.peak_memory_bytes, result.cpu_s,
    )  # fmt: skip


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
        peak_memory_bytes=row["peak_memory_bytes"],
        cpu_s=row["cpu_s"],
        replay_of=row["replay_of"],
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

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (caller holds the lock); disk full → :class:`JournalError`."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise JournalError(str(exc)) from exc

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        with self._transaction() as db:
            for sql, params in statements:
                db.execute(sql, params)

    def accept(
        self,
        kind: str,
        body: dict[str, Any],
        hooks: list[str],
        dedup: Delivery | None = None,
        replay_of: str | None = None,
    ) -> Accepted:
        """Persist an event and its queued runs in one transaction; replay a known delivery.

        ``replay_of`` links the new runs to the run they replay (``runs replay``).
        """
        now = time.time()
        event_id = str(uuid.uuid4())
        run_ids = [str(uuid.uuid4()) for _ in hooks]
        accepted = Accepted(event_id, run_ids, duplicate=False)
        with self._lock:
            if dedup is not None:
                known = self._delivery(dedup)
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
                    "INSERT INTO runs (id, event_id, hook, status, next_at, created_at,"
                    " updated_at, replay_of) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                    (run_id, event_id, hook, now, now, now, replay_of),
                )
                for run_id, hook in zip(run_ids, hooks, strict=True)
            ]
            if dedup is not None:
                statements.append(self._delivery_insert(dedup, accepted.to_json(), now))
            self._write(statements)
        return accepted

    def _delivery(self, delivery: Delivery) -> Accepted | None:
        response = self._delivery_response(delivery)
        return Accepted.from_json(response) if response is not None else None

    def _delivery_response(self, delivery: Delivery) -> str | None:
        row = self._db.execute(
            "SELECT response FROM deliveries WHERE source = ? AND key = ?", delivery
        ).fetchone()
        return str(row["response"]) if row else None

    def requested(self, key: str) -> str | None:
        """The id of the request that flow-request delivery ``key`` opened, if any."""
        with self._lock:
            response = self._delivery_response(Delivery("flow_request", key))
        return str(json.loads(response)["request_id"]) if response is not None else None

    @staticmethod
    def _delivery_insert(
        delivery: Delivery, response: str, now: float
    ) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO deliveries (source, key, response, created_at) VALUES (?, ?, ?, ?)",
            (*delivery, response, now),
        )

    def remember_delivery(self, delivery: Delivery) -> bool:
        """Record a delivery that creates no event; ``False`` if it was seen before."""
        with self._lock:
            if self._delivery(delivery) is not None:
                return False
            self._write(
                [self._delivery_insert(delivery, Accepted("", [], False).to_json(), time.time())]
            )
            return True

    def claim_due(self, now: float | None = None) -> RunRecord | None:
        """Move the oldest due queued run to ``running`` and count the attempt."""
        now = time.time() if now is None else now
        with self._lock, self._transaction() as db:
            row = db.execute(
                f"UPDATE runs SET status = 'running', attempt = attempt + 1, updated_at = ?"
                f" WHERE id = (SELECT id FROM runs WHERE status = 'queued' AND next_at <= ?"
                f" ORDER BY next_at LIMIT 1) RETURNING {_RUN_SELECT}",
                (now, now),
            ).fetchone()
        return _run(row) if row else None

    def finish(self, result: RunResult, status: str, next_at: float | None = None) -> None:
        """Record an attempt's result; ``status`` is the run's new lifecycle state."""
        with self._lock:
            self._write(
                [
                    (
                        "UPDATE runs SET status = ?, outcome = ?, commit_sha = ?, exit_code = ?,"
                        " stdout = ?, stderr = ?, truncated = ?, started_at = ?, duration_s = ?,"
                        " peak_memory_bytes = ?, cpu_s = ?,"
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
                            result.peak_memory_bytes,
                            result.cpu_s,
                            next_at,
                            time.time(),
                            result.run_id,
                        ),
                    ),
                    *(
                        [(_RESOLVE_REPLAYED, (result.run_id, time.time()))]
                        if status == "succeeded"
                        else []
                    ),
                ]
            )

    def interrupted_runs(self) -> list[RunRecord]:
        """Runs a crash left ``running``: their attempt was cut short."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_RUN_SELECT} FROM runs WHERE status = 'running'"
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
                f"SELECT {_RUN_SELECT} FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
        return _run(row) if row else None

    def runs(
        self, status: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """Newest first, optionally filtered."""
        where, params = _where(status=status, event_id=event_id)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_RUN_SELECT} FROM runs {where} ORDER BY created_at DESC, rowid DESC"
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

    # Flow runs: hook processes of the flow engine, recorded once they have finished.

    def record_finished_runs(
        self, kind: str, body: dict[str, Any], results: list[RunResult]
    ) -> None:
        """An event and the runs it already finished, so ``runs`` lists flow hooks too."""
        if not results:
            return
        now = time.time()
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT OR IGNORE INTO events (id, kind, body, created_at) VALUES (?, ?, ?, ?)",
                (results[0].event_id, kind, json.dumps(body), now),
            )
        ]
        statements += [(_RUN_INSERT, _finished_run_row(result, now)) for result in results]
        with self._lock:
            self._write(statements)

    # Access requests, their history and their timers.

    @staticmethod
    def _history_insert(request_id: str, entry: HistoryEntry) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO request_history (request_id, event, actor, at, message, transition)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (request_id, entry.event, entry.actor, entry.at, entry.message, entry.transition),
        )

    @staticmethod
    def _timer_insert(request_id: str, kind: str, due_at: float) -> tuple[str, tuple[Any, ...]]:
        return (
            "INSERT INTO timers (request_id, kind, due_at) VALUES (?, ?, ?)",
            (request_id, kind, due_at),
        )

    def create_request(
        self,
        request: RequestRecord,
        entry: HistoryEntry,
        timers: tuple[tuple[str, float], ...],
        dedup_key: str | None = None,
    ) -> None:
        """Insert ``request``, and the flow-request delivery key that opened it (see
        :meth:`requested`)."""
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                f"INSERT INTO requests ({_REQUEST_COLUMNS}, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.request_id,
                    request.flow,
                    request.state,
                    request.requester,
                    json.dumps(request.fields),
                    request.duration_s,
                    request.error,
                    request.created_at,
                    request.escalated_at,
                    request.expires_at,
                    json.dumps(request.step_outputs),
                    request.created_at,
                ),
            ),
            self._history_insert(request.request_id, entry),
            *(self._timer_insert(request.request_id, kind, due) for kind, due in timers),
        ]
        if dedup_key is not None:
            opened = json.dumps({"request_id": request.request_id})
            delivery = Delivery("flow_request", dedup_key)
            statements.append(self._delivery_insert(delivery, opened, request.created_at))
        with self._lock:
            self._write(statements)

    def transition(self, request_id: str, change: Transition) -> bool:
        """Compare-and-swap the state; ``False`` (and nothing written) if it had moved on."""
        columns = sorted(change.updates)
        if not _REQUEST_UPDATABLE.issuperset(columns):
            raise ValueError(f"cannot update {columns}")
        assignments = "".join(f", {column} = ?" for column in columns)
        states = ", ".join("?" for _ in change.from_states)
        with self._lock, self._transaction() as db:
            cursor = db.execute(
                f"UPDATE requests SET state = ?, updated_at = ?{assignments}"
                f" WHERE id = ? AND state IN ({states})",
                (
                    change.to_state,
                    change.entry.at,
                    *(_column_value(change.updates[c]) for c in columns),
                    request_id,
                    *change.from_states,
                ),
            )
            if cursor.rowcount != 1:
                return False
            timers = self._timer_changes(
                request_id, change.cancel_timers, change.add_timers, change.entry.at
            )
            for sql, params in timers:
                db.execute(sql, params)
            db.execute(*self._history_insert(request_id, change.entry))
        return True

    def _timer_changes(
        self,
        request_id: str,
        cancel: tuple[str, ...],
        add: tuple[tuple[str, float], ...],
        now: float,
    ) -> list[tuple[str, tuple[Any, ...]]]:
        """Statements that close the pending timers of kinds ``cancel``, then add ``add``."""
        statements = []
        if cancel:
            kinds = ", ".join("?" for _ in cancel)
            statements.append(
                (
                    "UPDATE timers SET done_at = ? WHERE request_id = ? AND done_at IS NULL"
                    f" AND kind IN ({kinds})",
                    (now, request_id, *cancel),
                )
            )
        return statements + [self._timer_insert(request_id, k, due) for k, due in add]

    def note(self, request_id: str, entry: HistoryEntry, error: str | None = None) -> None:
        """Audit a step that changed no state (a refusal, a failure); ``error`` is shown."""
        statements = [self._history_insert(request_id, entry._replace(transition=False))]
        if error is not None:
            statements.append(
                ("UPDATE requests SET error = ?, updated_at = ? WHERE id = ?",
                 (error, entry.at, request_id))
            )  # fmt: skip
        with self._lock:
            self._write(statements)

    def request(self, request_id: str) -> RequestRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_REQUEST_COLUMNS} FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
            history = self._db.execute(
                "SELECT event, actor, at, message, transition FROM request_history"
                " WHERE request_id = ?"
                " ORDER BY rowid",
                (request_id,),
            ).fetchall()
        if row is None:
            return None
        entries = tuple(HistoryEntry(e[0], e[1], e[2], e[3], bool(e[4])) for e in history)
        return _request(row, entries)

    def requests(
        self, state: str | None = None, flow: str | None = None, limit: int = 100
    ) -> list[RequestRecord]:
        """Newest first, without history."""
        where, params = _where(state=state, flow=flow)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_REQUEST_COLUMNS} FROM requests {where}"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [_request(row, ()) for row in rows]

    def due_timers(self, now: float) -> list[TimerRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, request_id, kind, due_at, attempt FROM timers"
                " WHERE done_at IS NULL AND due_at <= ? ORDER BY due_at",
                (now,),
            ).fetchall()
        return [TimerRecord(*row) for row in rows]

    def next_timer_at(self, excluding: Iterable[int] = ()) -> float | None:
        """When the next pending timer falls due, leaving out ``excluding`` (in flight)."""
        skipped = list(excluding)
        marks = ", ".join("?" for _ in skipped)
        with self._lock:
            row = self._db.execute(
                f"SELECT MIN(due_at) FROM timers WHERE done_at IS NULL AND id NOT IN ({marks})",
                skipped,
            ).fetchone()
        return row[0] if row else None

    def timer_pending(self, timer_id: int) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM timers WHERE id = ? AND done_at IS NULL", (timer_id,)
            ).fetchone()
        return row is not None

    def finish_timers(self, request_id: str, kinds: tuple[str, ...]) -> None:
        with self._lock:
            self._write(self._timer_changes(request_id, kinds, (), time.time()))

    def retry_timer(self, request_id: str, kind: str, due_at: float) -> int:
        """Push the pending ``kind`` timer of a request to ``due_at`` (creating it if
        needed); returns how many times it has been retried."""
        with self._lock, self._transaction() as db:
            row = db.execute(
                "UPDATE timers SET due_at = ?, attempt = attempt + 1 WHERE id = (SELECT id FROM"
                " timers WHERE request_id = ? AND kind = ? AND done_at IS NULL LIMIT 1)"
                " RETURNING attempt",
                (due_at, request_id, kind),
            ).fetchone()
            if row is not None:
                return int(row[0])
            db.execute(
                "INSERT INTO timers (request_id, kind, due_at, attempt) VALUES (?, ?, ?, 1)",
                (request_id, kind, due_at),
            )
            return 1


def _where(**equal: str | None) -> tuple[str, list[str]]:
    """A ``WHERE`` clause for the filters that are set; column names are ours, not input."""
    chosen = {column: value for column, value in equal.items() if value is not None}
    clause = " AND ".join(f"{column} = ?" for column in chosen)
    return (f"WHERE {clause}" if clause else ""), list(chosen.values())


def _column_value(value: Any) -> Any:
    """A request column as stored: objects (``step_outputs``) as JSON text."""
    return json.dumps(value) if isinstance(value, dict) else value


def _request(row: sqlite3.Row, history: tuple[HistoryEntry, ...]) -> RequestRecord:
    return RequestRecord(
        request_id=row["id"],
        flow=row["flow"],
        state=row["state"],
        requester=row["requester"],
        fields=plain_object(row["fields"]),
        duration_s=row["duration_s"],
        created_at=row["created_at"],
        escalated_at=row["escalated_at"],
        expires_at=row["expires_at"],
        error=row["error"],
        history=history,
        step_outputs=plain_object(row["step_outputs"]),
    )
