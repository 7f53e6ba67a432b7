"""Durable storage of events, runs, deliveries and access requests (DESIGN §6, §14).

Callers know only the :class:`Journal` protocol; :func:`open_journal` picks the backend
from ``journal.url``: SQLite in the state dir, or a PostgreSQL database a fleet shares.
"""

from __future__ import annotations

from pathlib import Path

from hookrunner.journal.interface import HeldLock, Journal
from hookrunner.journal.records import (
    FINAL_STATES,
    REQUEST_STATES,
    RUN_STATES,
    TIMER_KINDS,
    Accepted,
    Delivery,
    DeliverySource,
    EventRecord,
    HistoryEntry,
    JournalError,
    MessageRecord,
    RequestRecord,
    RunRecord,
    SchemaTooNew,
    TimerRecord,
    Transition,
)

SQLITE_FILE = "hookrunner.db"


def open_journal(state_dir: Path, url: str = "", lease: float = 30.0, pool: int = 20) -> Journal:
    """The journal at ``url``, or at ``<state.dir>/hookrunner.db`` when there is none;
    migrated to the schema this code knows (:class:`SchemaTooNew` if it is newer)."""
    if url:
        from hookrunner.journal.postgres import PostgresJournal  # only a fleet needs psycopg

        return PostgresJournal(url, lease, pool)
    from hookrunner.journal.sqlite import SqliteJournal

    return SqliteJournal(state_dir / SQLITE_FILE, lease)


__all__ = [
    "FINAL_STATES",
    "REQUEST_STATES",
    "RUN_STATES",
    "TIMER_KINDS",
    "Accepted",
    "Delivery",
    "DeliverySource",
    "EventRecord",
    "HeldLock",
    "HistoryEntry",
    "Journal",
    "JournalError",
    "MessageRecord",
    "RequestRecord",
    "RunRecord",
    "SchemaTooNew",
    "TimerRecord",
    "Transition",
    "open_journal",
]
