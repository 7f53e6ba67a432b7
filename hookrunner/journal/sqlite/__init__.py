"""The SQLite journal: the embedded default, one host, one file in the state dir."""

from __future__ import annotations

from pathlib import Path

from hookrunner.journal.sql import SqlJournal
from hookrunner.journal.sqlite.connection import SqliteDatabase
from hookrunner.journal.sqlite.schema import MIGRATIONS


class SqliteJournal(SqlJournal):
    def __init__(self, path: Path, lease: float = 30.0) -> None:
        self.path = path
        super().__init__(SqliteDatabase(path, lease))


__all__ = ["MIGRATIONS", "SqliteJournal"]
