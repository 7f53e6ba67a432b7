"""The little a backend's connection must offer the shared queries.

The queries in :mod:`runs` and :mod:`requests` are written once, in the SQL both
SQLite and PostgreSQL speak, with ``?`` placeholders; each backend supplies a
:class:`Database` that runs them and says where the two dialects differ.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from hookrunner.journal.interface import HeldLock


class Rows(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """A connection inside a transaction (or a read); rows are read by column name."""

    def execute(self, sql: str, params: Any = (), /) -> Rows: ...


class Database(Protocol):
    # Who we are in lease columns, and how long a lease lasts.
    owner: str
    lease: float
    # True where one daemon owns the journal (SQLite, behind the state-dir lock): a run
    # another owner left ``running`` is cut short at once, without waiting for its lease.
    exclusive: bool
    # Appended to the subquery that picks a row to claim.
    skip_locked: str
    # The column that orders rows by insertion.
    order: str

    @property
    def version(self) -> int: ...

    def write(self, durable: bool = True) -> AbstractContextManager[Tx]:
        """One write transaction; a storage failure is a JournalError.

        ``durable=False``: the commit need not reach the disk before it returns; it does
        with the next durable one (the journal's log is written in order), and a crash
        before that loses it and what followed it, never what came before."""
        ...

    def read(self) -> AbstractContextManager[Tx]: ...

    def try_lock(self, key: str) -> HeldLock | None: ...

    def close(self) -> None: ...
