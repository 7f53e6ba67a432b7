"""Move a journal from one backend to another (``hookrunner journal copy``), so a single
host on SQLite can grow into a fleet on PostgreSQL without losing what it accepted.

Rows go over in their insertion order, in one transaction on the target: the copy is
whole or absent. The caller holds the source's state-dir lock, so no daemon writes it.
A target that already holds events or requests is refused.
"""

from __future__ import annotations

from hookrunner.journal.database import Database
from hookrunner.journal.records import JournalError
from hookrunner.journal.requests import REQUEST_COLUMNS
from hookrunner.journal.runs import RUN_COLUMNS, marks

# Each table with the columns both schemas share, parents before children.
TABLES: tuple[tuple[str, str], ...] = (
    ("events", "id, kind, body, created_at"),
    ("runs", f"{RUN_COLUMNS}, lease_owner, lease_until"),
    ("deliveries", "source, key, event_id, request_id, created_at"),
    ("requests", f"{REQUEST_COLUMNS}, updated_at"),
    ("request_history", "request_id, event, actor, at, message, transition"),
    ("timers", "id, request_id, kind, due_at, attempt, done_at, lease_owner, lease_until"),
    (
        "slack_messages",
        "id, request_id, kind, integration, target, channel, ts, sent_state, due_at, attempt,"
        " error, created_at",
    ),
)
# Tables that keep their ids: the next one the target mints must come after them.
_NUMBERED = ("timers", "slack_messages")


class TargetNotEmpty(JournalError):
    """The target journal already holds work; copying into it would mix two journals."""


def copy_journal(source: Database, target: Database) -> dict[str, int]:
    """Copy every row of ``source`` into the empty ``target``; rows copied, by table."""
    copied: dict[str, int] = {}
    with target.write() as into:
        for table in ("events", "requests"):
            if into.execute(f"SELECT 1 AS found FROM {table} LIMIT 1").fetchone() is not None:
                raise TargetNotEmpty(f"the target journal already has {table}; refusing to mix")
        for table, columns in TABLES:
            with source.read() as origin:
                rows = origin.execute(
                    f"SELECT {columns} FROM {table} ORDER BY {source.order}"
                ).fetchall()
            names = [name.strip() for name in columns.split(",")]
            insert = f"INSERT INTO {table} ({columns}) VALUES ({marks(names)})"
            for row in rows:
                into.execute(insert, tuple(row[name] for name in names))
            copied[table] = len(rows)
        # The source's daemon is stopped (the caller holds its state-dir lock): its leases
        # end here, so the fleet retries what it left running at once.
        for table in ("runs", "timers"):
            into.execute(f"UPDATE {table} SET lease_owner = NULL, lease_until = NULL")
        if target.order == "seq":  # PostgreSQL identities do not follow explicit ids
            for table in _NUMBERED:
                into.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" GREATEST((SELECT MAX(id) FROM {table}), 1))"
                )
    return copied
