"""The PostgreSQL journal: one database shared by a fleet of hosts (DESIGN §14)."""

from __future__ import annotations

from hookrunner.journal.postgres.connection import PostgresDatabase
from hookrunner.journal.postgres.schema import MIGRATIONS
from hookrunner.journal.sql import SqlJournal


class PostgresJournal(SqlJournal):
    def __init__(self, url: str, lease: float = 30.0, max_size: int = 20) -> None:
        super().__init__(PostgresDatabase(url, lease, max_size))


__all__ = ["MIGRATIONS", "PostgresJournal"]
