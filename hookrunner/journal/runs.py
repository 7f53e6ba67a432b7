"""Events, runs and deliveries: the queries both backends share."""

from __future__ import annotations

import json
import time
from typing import Any

from hookrunner.execution import RunResult
from hookrunner.journal.database import Database, Tx
from hookrunner.journal.records import (
    Accepted,
    Delivery,
    EventRecord,
    RunRecord,
    finished_state,
    new_id,
)

RUN_COLUMNS = (
    "id, event_id, hook, state, outcome, attempt, next_at, commit_sha, exit_code, stdout,"
    " stderr, truncated, started_at, duration_s, created_at, updated_at, peak_memory_bytes, cpu_s,"
    " replay_of"
)
_RUN_INSERT = f"INSERT INTO runs ({RUN_COLUMNS}) VALUES ({', '.join('?' * 19)})"
# A succeeded replay resolves the dead run it replays, and that run's own original.
_RESOLVE_REPLAYED = """
    WITH RECURSIVE chain(id) AS (
        SELECT replay_of FROM runs WHERE id = ?
        UNION SELECT runs.replay_of FROM runs JOIN chain ON runs.id = chain.id
    )
    UPDATE runs SET state = 'replayed', updated_at = ?
    WHERE state = 'dead' AND id IN (SELECT id FROM chain WHERE id IS NOT NULL)
"""


def run_record(row: Any) -> RunRecord:
    return RunRecord(
        run_id=row["id"],
        event_id=row["event_id"],
        hook=row["hook"],
        state=row["state"],
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


def _finished_run_values(result: RunResult, now: float) -> tuple[Any, ...]:
    return (
        result.run_id, result.event_id, result.hook, finished_state(result.status),
        result.status, result.attempt, now, result.commit, result.exit_code,
        result.stdout, result.stderr, int(result.truncated), result.started_at,
        result.duration_s, now, now, result.peak_memory_bytes, result.cpu_s, None,
    )  # fmt: skip


def where(**equal: str | None) -> tuple[str, list[str]]:
    """A ``WHERE`` clause for the filters that are set; column names are ours, not input."""
    chosen = {column: value for column, value in equal.items() if value is not None}
    clause = " AND ".join(f"{column} = ?" for column in chosen)
    return (f"WHERE {clause}" if clause else ""), list(chosen.values())


def unleased(db: Database, now: float) -> tuple[str, tuple[Any, ...]]:
    """A condition for rows no live holder has leased, with its parameters.

    In a fleet a lease holds until it lapses. One daemon owns an exclusive journal: what
    another process leased is free at once (that process is gone), while the daemon's own
    leases hold until they lapse."""
    if db.exclusive:
        return "(lease_owner IS NULL OR lease_owner <> ? OR lease_until < ?)", (db.owner, now)
    return "(lease_until IS NULL OR lease_until < ?)", (now,)


def marks(values: list[Any] | tuple[Any, ...]) -> str:
    return ", ".join("?" for _ in values)


class RunsAndEvents:
    _db: Database

    # --- intake and deliveries -----------------------------------------------------------

    def accept(
        self,
        kind: str,
        body: dict[str, Any],
        hooks: list[str],
        dedup: Delivery | None = None,
        replay_of: str | None = None,
    ) -> Accepted:
        now = time.time()
        event_id = new_id()
        run_ids = [new_id() for _ in hooks]
        with self._db.write() as tx:
            if dedup is not None and not self._claim_delivery(tx, dedup, now, event_id=event_id):
                return self._known_delivery(tx, dedup)
            tx.execute(
                "INSERT INTO events (id, kind, body, created_at) VALUES (?, ?, ?, ?)",
                (event_id, kind, json.dumps(body), now),
            )
            for run_id, hook in zip(run_ids, hooks, strict=True):
                tx.execute(
                    "INSERT INTO runs (id, event_id, hook, state, next_at, created_at,"
                    " updated_at, replay_of) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                    (run_id, event_id, hook, now, now, now, replay_of),
                )
        return Accepted(event_id, run_ids, duplicate=False)

    @staticmethod
    def _claim_delivery(
        tx: Tx,
        delivery: Delivery,
        now: float,
        event_id: str | None = None,
        request_id: str | None = None,
    ) -> bool:
        """Insert the delivery's row; ``False`` if it was there (a concurrent first insert
        is waited for by the database, so exactly one caller wins)."""
        inserted = tx.execute(
            "INSERT INTO deliveries (source, key, event_id, request_id, created_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (delivery.source, delivery.key, event_id, request_id, now),
        )
        return inserted.rowcount == 1

    def _known_delivery(self, tx: Tx, delivery: Delivery) -> Accepted:
        row = tx.execute(
            "SELECT event_id FROM deliveries WHERE source = ? AND key = ?", tuple(delivery)
        ).fetchone()
        event_id = (row["event_id"] if row else None) or ""
        runs = tx.execute(
            f"SELECT id FROM runs WHERE event_id = ? ORDER BY {self._db.order}", (event_id,)
        ).fetchall()
        return Accepted(event_id, [run["id"] for run in runs], duplicate=True)

    def remember_delivery(self, delivery: Delivery) -> bool:
        with self._db.write() as tx:
            return self._claim_delivery(tx, delivery, time.time())

    def delivered(self, delivery: Delivery) -> bool:
        with self._db.read() as tx:
            row = tx.execute(
                "SELECT 1 AS found FROM deliveries WHERE source = ? AND key = ?", delivery
            ).fetchone()
        return row is not None

    def requested(self, key: str) -> str | None:
        with self._db.read() as tx:
            row = tx.execute(
                "SELECT request_id FROM deliveries WHERE source = 'flow_request' AND key = ?",
                (key,),
            ).fetchone()
        return row["request_id"] if row else None

    # --- claiming and finishing runs -----------------------------------------------------

    def claim_due(self, now: float | None = None) -> RunRecord | None:
        now = time.time() if now is None else now
        with self._db.write(durable=False) as tx:
            row = tx.execute(
                "UPDATE runs SET state = 'running', attempt = attempt + 1, updated_at = ?,"
                " lease_owner = ?, lease_until = ?"
                " WHERE id = (SELECT id FROM runs WHERE state = 'queued' AND next_at <= ?"
                f" ORDER BY next_at LIMIT 1{self._db.skip_locked}) RETURNING {RUN_COLUMNS}",
                (now, self._db.owner, now + self._db.lease, now),
            ).fetchone()
        return run_record(row) if row else None

    def renew_runs(self, run_ids: list[str]) -> None:
        if not run_ids:
            return
        with self._db.write(durable=False) as tx:
            tx.execute(
                f"UPDATE runs SET lease_until = ? WHERE id IN ({marks(run_ids)})"
                " AND state = 'running' AND lease_owner = ?",
                (time.time() + self._db.lease, *run_ids, self._db.owner),
            )

    def finish(
        self, result: RunResult, state: str, next_at: float | None = None
    ) -> RunRecord | None:
        # Only the attempt that is still running may end: after a takeover the row has
        # moved on (requeued, or claimed again with a higher attempt).
        with self._db.write(durable=False) as tx:
            row = tx.execute(
                "UPDATE runs SET state = ?, outcome = ?, commit_sha = ?, exit_code = ?,"
                " stdout = ?, stderr = ?, truncated = ?, started_at = ?, duration_s = ?,"
                " peak_memory_bytes = ?, cpu_s = ?, lease_owner = NULL, lease_until = NULL,"
                " next_at = COALESCE(?, next_at), updated_at = ?"
                f" WHERE id = ? AND attempt = ? AND state = 'running' RETURNING {RUN_COLUMNS}",
                (
                    state,
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
                    result.attempt,
                ),
            ).fetchone()
            if row is not None and state == "succeeded":
                tx.execute(_RESOLVE_REPLAYED, (result.run_id, time.time()))
        return run_record(row) if row else None

    def interrupted_runs(self, now: float | None = None) -> list[RunRecord]:
        now = time.time() if now is None else now
        # One daemon owns an exclusive journal: a run it did not claim itself is dead at
        # once, and its own are never (its leases are only for a fleet).
        condition, params = (
            ("lease_owner IS NULL OR lease_owner <> ?", (self._db.owner,))
            if self._db.exclusive
            else ("lease_until IS NULL OR lease_until < ?", (now,))
        )
        with self._db.read() as tx:
            rows = tx.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE state = 'running' AND ({condition})",
                params,
            ).fetchall()
        return [run_record(row) for row in rows]

    def next_due_at(self) -> float | None:
        with self._db.read() as tx:
            row = tx.execute(
                "SELECT MIN(next_at) AS due FROM runs WHERE state = 'queued'"
            ).fetchone()
        return row["due"] if row else None

    # --- reading -------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRecord | None:
        with self._db.read() as tx:
            row = tx.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return run_record(row) if row else None

    def runs(
        self, state: str | None = None, event_id: str | None = None, limit: int = 100
    ) -> list[RunRecord]:
        clause, params = where(state=state, event_id=event_id)
        with self._db.read() as tx:
            rows = tx.execute(
                f"SELECT {RUN_COLUMNS} FROM runs {clause}"
                f" ORDER BY created_at DESC, {self._db.order} DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [run_record(row) for row in rows]

    def event(self, event_id: str) -> EventRecord | None:
        with self._db.read() as tx:
            row = tx.execute(
                "SELECT id, kind, body, created_at FROM events WHERE id = ?", (event_id,)
            ).fetchone()
        if row is None:
            return None
        return EventRecord(row["id"], row["kind"], json.loads(row["body"]), row["created_at"])

    def counts(self) -> dict[str, int]:
        with self._db.read() as tx:
            rows = tx.execute("SELECT state, COUNT(*) AS n FROM runs GROUP BY state").fetchall()
        return {row["state"]: row["n"] for row in rows}

    def record_finished_runs(
        self, kind: str, body: dict[str, Any], results: list[RunResult]
    ) -> None:
        if not results:
            return
        now = time.time()
        with self._db.write() as tx:
            tx.execute(
                "INSERT INTO events (id, kind, body, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                (results[0].event_id, kind, json.dumps(body), now),
            )
            for result in results:
                tx.execute(_RUN_INSERT, _finished_run_values(result, now))
