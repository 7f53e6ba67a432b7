"""Access requests, their history and their timers: the queries both backends share."""

from __future__ import annotations

import json
import time
from typing import Any

from hookrunner.journal.database import Database, Tx
from hookrunner.journal.records import (
    Delivery,
    HistoryEntry,
    RequestRecord,
    TimerRecord,
    Transition,
    plain_object,
)
from hookrunner.journal.runs import RunsAndEvents, marks, unleased, where

REQUEST_COLUMNS = (
    "id, flow, state, requester, fields, duration_s, error, created_at, escalated_at,"
    " expires_at, step_outputs"
)
# Columns a transition may set besides the state.
_REQUEST_UPDATABLE = frozenset({"error", "escalated_at", "expires_at", "step_outputs"})
_TIMER_COLUMNS = "id, request_id, kind, due_at, attempt"


def _column_value(value: Any) -> Any:
    """A request column as stored: objects (``step_outputs``) as JSON text."""
    return json.dumps(value) if isinstance(value, dict) else value


def request_record(row: Any, history: tuple[HistoryEntry, ...]) -> RequestRecord:
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


def _timer(row: Any) -> TimerRecord:
    return TimerRecord(row["id"], row["request_id"], row["kind"], row["due_at"], row["attempt"])


def _add_history(tx: Tx, request_id: str, entry: HistoryEntry) -> None:
    tx.execute(
        "INSERT INTO request_history (request_id, event, actor, at, message, transition)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (request_id, entry.event, entry.actor, entry.at, entry.message, int(entry.transition)),
    )


def _change_timers(
    tx: Tx,
    request_id: str,
    cancel: tuple[str, ...],
    add: tuple[tuple[str, float], ...],
    now: float,
) -> None:
    """Close the pending timers of kinds ``cancel``, then add ``add``."""
    if cancel:
        tx.execute(
            "UPDATE timers SET done_at = ?, lease_owner = NULL, lease_until = NULL"
            f" WHERE request_id = ? AND done_at IS NULL AND kind IN ({marks(cancel)})",
            (now, request_id, *cancel),
        )
    for kind, due_at in add:
        tx.execute(
            "INSERT INTO timers (request_id, kind, due_at) VALUES (?, ?, ?)",
            (request_id, kind, due_at),
        )


class RequestsAndTimers(RunsAndEvents):
    _db: Database

    def create_request(
        self,
        request: RequestRecord,
        entry: HistoryEntry,
        timers: tuple[tuple[str, float], ...],
        dedup_key: str | None = None,
    ) -> None:
        with self._db.write() as tx:
            tx.execute(
                f"INSERT INTO requests ({REQUEST_COLUMNS}, updated_at)"
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
            )
            _add_history(tx, request.request_id, entry)
            _change_timers(tx, request.request_id, (), timers, request.created_at)
            if dedup_key is not None:
                delivery = Delivery("flow_request", dedup_key)
                self._claim_delivery(
                    tx, delivery, request.created_at, request_id=request.request_id
                )

    def transition(self, request_id: str, change: Transition) -> bool:
        columns = sorted(change.updates)
        if not _REQUEST_UPDATABLE.issuperset(columns):
            raise ValueError(f"cannot update {columns}")
        assignments = "".join(f", {column} = ?" for column in columns)
        with self._db.write() as tx:
            moved = tx.execute(
                f"UPDATE requests SET state = ?, updated_at = ?{assignments}"
                f" WHERE id = ? AND state IN ({marks(change.from_states)})",
                (
                    change.to_state,
                    change.entry.at,
                    *(_column_value(change.updates[c]) for c in columns),
                    request_id,
                    *change.from_states,
                ),
            )
            if moved.rowcount != 1:
                return False
            _change_timers(tx, request_id, change.cancel_timers, change.add_timers, change.entry.at)
            _add_history(tx, request_id, change.entry)
        return True

    def note(self, request_id: str, entry: HistoryEntry, error: str | None = None) -> None:
        with self._db.write() as tx:
            _add_history(tx, request_id, entry._replace(transition=False))
            if error is not None:
                tx.execute(
                    "UPDATE requests SET error = ?, updated_at = ? WHERE id = ?",
                    (error, entry.at, request_id),
                )

    def request(self, request_id: str) -> RequestRecord | None:
        with self._db.read() as tx:
            row = tx.execute(
                f"SELECT {REQUEST_COLUMNS} FROM requests WHERE id = ?", (request_id,)
            ).fetchone()
            history = tx.execute(
                "SELECT event, actor, at, message, transition FROM request_history"
                f" WHERE request_id = ? ORDER BY {self._db.order}",
                (request_id,),
            ).fetchall()
        if row is None:
            return None
        entries = tuple(
            HistoryEntry(e["event"], e["actor"], e["at"], e["message"], bool(e["transition"]))
            for e in history
        )
        return request_record(row, entries)

    def requests(
        self, state: str | None = None, flow: str | None = None, limit: int = 100
    ) -> list[RequestRecord]:
        clause, params = where(state=state, flow=flow)
        with self._db.read() as tx:
            rows = tx.execute(
                f"SELECT {REQUEST_COLUMNS} FROM requests {clause}"
                f" ORDER BY created_at DESC, {self._db.order} DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [request_record(row, ()) for row in rows]

    # --- timers --------------------------------------------------------------------------

    def claim_timers(self, now: float) -> list[TimerRecord]:
        free, params = unleased(self._db, now)
        with self._db.write() as tx:
            rows = tx.execute(
                "UPDATE timers SET lease_owner = ?, lease_until = ? WHERE id IN (SELECT id"
                f" FROM timers WHERE done_at IS NULL AND due_at <= ? AND {free}"
                f"{self._db.skip_locked}) RETURNING {_TIMER_COLUMNS}",
                (self._db.owner, now + self._db.lease, now, *params),
            ).fetchall()
        return sorted((_timer(row) for row in rows), key=lambda timer: timer.due_at)

    def renew_timers(self, timer_ids: list[int]) -> None:
        if not timer_ids:
            return
        with self._db.write() as tx:
            tx.execute(
                f"UPDATE timers SET lease_until = ? WHERE id IN ({marks(timer_ids)})"
                " AND done_at IS NULL AND lease_owner = ?",
                (time.time() + self._db.lease, *timer_ids, self._db.owner),
            )

    def release_timer(self, timer_id: int) -> None:
        with self._db.write() as tx:
            tx.execute(
                "UPDATE timers SET lease_owner = NULL, lease_until = NULL"
                " WHERE id = ? AND lease_owner = ?",
                (timer_id, self._db.owner),
            )

    def next_timer_at(self) -> float | None:
        free, params = unleased(self._db, time.time())
        with self._db.read() as tx:
            row = tx.execute(
                f"SELECT MIN(due_at) AS due FROM timers WHERE done_at IS NULL AND {free}", params
            ).fetchone()
        return row["due"] if row else None

    def timer_pending(self, timer_id: int) -> bool:
        with self._db.read() as tx:
            row = tx.execute(
                "SELECT 1 AS pending FROM timers WHERE id = ? AND done_at IS NULL", (timer_id,)
            ).fetchone()
        return row is not None

    def finish_timers(self, request_id: str, kinds: tuple[str, ...]) -> None:
        with self._db.write() as tx:
            _change_timers(tx, request_id, kinds, (), time.time())

    def retry_timer(self, request_id: str, kind: str, due_at: float) -> int:
        with self._db.write() as tx:
            row = tx.execute(
                "UPDATE timers SET due_at = ?, attempt = attempt + 1 WHERE id = (SELECT id FROM"
                " timers WHERE request_id = ? AND kind = ? AND done_at IS NULL LIMIT 1)"
                " RETURNING attempt",
                (due_at, request_id, kind),
            ).fetchone()
            if row is not None:
                return int(row["attempt"])
            tx.execute(
                "INSERT INTO timers (request_id, kind, due_at, attempt) VALUES (?, ?, ?, 1)",
                (request_id, kind, due_at),
            )
            return 1
