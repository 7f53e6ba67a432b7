"""A journal over any :class:`~hookrunner.journal.database.Database`: the shared queries."""

from __future__ import annotations

from hookrunner.journal.database import Database
from hookrunner.journal.interface import HeldLock
from hookrunner.journal.messages import SlackOutbox
from hookrunner.journal.requests import RequestsAndTimers


class SqlJournal(RequestsAndTimers, SlackOutbox):
    def __init__(self, db: Database) -> None:
        self._db = db

    def try_lock(self, key: str) -> HeldLock | None:
        return self._db.try_lock(key)

    @property
    def schema_version(self) -> int:
        return self._db.version

    def close(self) -> None:
        self._db.close()
