"""The Slack outbox: messages about requests, owed to Slack until it shows their state.

A due message is leased to one host while it is posted, so a fleet posts each once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from hookrunner.journal.database import Database
from hookrunner.journal.records import MessageRecord, plain_object
from hookrunner.journal.runs import unleased

_MESSAGE_COLUMNS = "id, request_id, kind, integration, target, channel, ts, attempt, error, due_at"


def _message(row: Any) -> MessageRecord:
    return MessageRecord(
        message_id=row["id"],
        request_id=row["request_id"],
        kind=row["kind"],
        integration=row["integration"],
        target=plain_object(row["target"]),
        channel=row["channel"],
        ts=row["ts"],
        attempt=row["attempt"],
        error=row["error"],
        due_at=row["due_at"],
    )


class SlackOutbox:
    _db: Database

    def add_messages(
        self, request_id: str, messages: Iterable[tuple[str, str, dict[str, Any]]], now: float
    ) -> None:
        """Queue ``(kind, integration, target)`` messages about a request, due at once."""
        with self._db.write() as tx:
            for kind, integration, target in messages:
                tx.execute(
                    "INSERT INTO slack_messages (request_id, kind, integration, target, due_at,"
                    " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (request_id, kind, integration, json.dumps(target), now, now),
                )

    def touch_messages(self, request_id: str, now: float) -> int:
        """The request changed: every message about it is due again; how many there are."""
        with self._db.write() as tx:
            touched = tx.execute(
                "UPDATE slack_messages SET due_at = ?, attempt = 0 WHERE request_id = ?",
                (now, request_id),
            )
            return int(touched.rowcount)

    def stale_messages(self, now: float) -> int:
        """Make due every message that does not show its request's state (a transition
        whose touch was lost in a crash); how many."""
        with self._db.write() as tx:
            stale = tx.execute(
                "UPDATE slack_messages SET due_at = ? WHERE due_at IS NULL"
                " AND COALESCE(sent_state, '') <> COALESCE((SELECT state FROM requests"
                " WHERE requests.id = slack_messages.request_id), '')",
                (now,),
            )
            return int(stale.rowcount)

    def due_messages(self, now: float, limit: int = 50) -> list[MessageRecord]:
        """Lease up to ``limit`` due messages no live host holds, oldest due first."""
        free, params = unleased(self._db, now)
        with self._db.write() as tx:
            rows = tx.execute(
                "UPDATE slack_messages SET lease_owner = ?, lease_until = ? WHERE id IN ("
                "SELECT id FROM slack_messages WHERE due_at IS NOT NULL AND due_at <= ?"
                f" AND {free} ORDER BY due_at LIMIT ?{self._db.skip_locked})"
                f" RETURNING {_MESSAGE_COLUMNS}",
                (self._db.owner, now + self._db.lease, now, *params, limit),
            ).fetchall()
        return sorted((_message(row) for row in rows), key=lambda m: (m.due_at or 0, m.message_id))

    def messages(self, request_id: str) -> list[MessageRecord]:
        with self._db.read() as tx:
            rows = tx.execute(
                f"SELECT {_MESSAGE_COLUMNS} FROM slack_messages WHERE request_id = ? ORDER BY id",
                (request_id,),
            ).fetchall()
        return [_message(row) for row in rows]

    def next_message_at(self) -> float | None:
        """When the next message no live host holds falls due."""
        free, params = unleased(self._db, time.time())
        with self._db.read() as tx:
            row = tx.execute(
                f"SELECT MIN(due_at) AS due FROM slack_messages WHERE {free}", params
            ).fetchone()
        return row["due"] if row else None

    def message_sent(
        self, message_id: int, channel: str | None, ts: str | None, state: str, due_at: float
    ) -> None:
        """Slack shows ``state``; done unless the request was touched since ``due_at``."""
        with self._db.write() as tx:
            tx.execute(
                "UPDATE slack_messages SET channel = ?, ts = ?, sent_state = ?, error = NULL,"
                " attempt = 0, lease_owner = NULL, lease_until = NULL,"
                " due_at = CASE WHEN due_at > ? THEN due_at ELSE NULL END WHERE id = ?",
                (channel, ts, state, due_at, message_id),
            )

    def message_failed(self, message_id: int, error: str, due_at: float | None) -> None:
        """Try again at ``due_at``, or never (``None``: Slack refused it for good)."""
        with self._db.write() as tx:
            tx.execute(
                "UPDATE slack_messages SET error = ?, attempt = attempt + 1, due_at = ?,"
                " lease_owner = NULL, lease_until = NULL WHERE id = ?",
                (error, due_at, message_id),
            )
