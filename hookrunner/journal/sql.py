"""A journal over any :class:`~hookrunner.journal.database.Database`: the shared queries."""

from __future__ import annotations

from hookrunner.journal.database import Database
from hookrunner.journal.requests import RequestsAndTimers


class SqlJournal(RequestsAndTimers):
    def __init__(self, db: Database) -> None:
        self._db = db
