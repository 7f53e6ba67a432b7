"""Durable storage of events, runs and deliveries (SQLite, the embedded default)."""

from pathlib import Path

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
    TimerRecord,
    Transition,
)
from hookrunner.journal.sqlite import SqliteJournal

Journal = SqliteJournal


def open_journal(state_dir: Path) -> Journal:
    """The journal at ``<state.dir>/hookrunner.db``."""
    return SqliteJournal(state_dir / "hookrunner.db")


__all__ = [
    "FINAL_STATES",
    "REQUEST_STATES",
    "RUN_STATES",
    "TIMER_KINDS",
    "Accepted",
    "Delivery",
    "DeliverySource",
    "EventRecord",
    "HistoryEntry",
    "Journal",
    "JournalError",
    "MessageRecord",
    "RequestRecord",
    "RunRecord",
    "TimerRecord",
    "Transition",
    "open_journal",
]
