"""One SQLite connection in WAL mode, guarded by a lock.

SQLite serialises writers anyway and the calls are short, so one connection serves
every thread. One daemon owns the file (the state-dir lock), so locks between hosts
are not needed and a run another process left ``running`` was cut short.

A durable commit is ``synchronous=FULL``: the WAL is fsynced before it returns. Others
(claiming, finishing, renewing a run) are ``NORMAL``: written to the WAL, not synced.
The WAL is one file written in commit order, so the fsync of the next FULL commit
carries every NORMAL one before it to the disk, and recovery after a power loss keeps a
prefix of the commits: it may lose the last NORMAL ones, never one before a FULL one.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from hookrunner.journal.database import Tx
from hookrunner.journal.interface import HeldLock
from hookrunner.journal.records import JournalError, SchemaTooNew, new_id
from hookrunner.journal.sqlite.schema import MIGRATIONS


class _Unshared:
    """The lock of a journal no other host shares: held as soon as asked."""

    def release(self) -> None:
        """Nothing to give back."""


class SqliteDatabase:
    exclusive = True
    skip_locked = ""
    order = "rowid"

    def __init__(self, path: Path, lease: float = 30.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.owner = new_id()
        self.lease = lease
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._durable = True
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.Error as exc:
            raise JournalError(f"{path}: {exc}") from exc

    @property
    def version(self) -> int:
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.version
        if version > len(MIGRATIONS):
            raise SchemaTooNew(
                f"{self.path}: journal schema version {version} is newer than this hookrunner"
                f" knows ({len(MIGRATIONS)}); upgrade hookrunner"
            )
        with self._lock:
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                self._db.executescript(f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def write(self, durable: bool = True) -> Iterator[Tx]:
        with self._lock, _mapped_errors():
            if durable != self._durable:
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._durable = durable
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with self._lock, _mapped_errors():
            yield self._db

    def try_lock(self, key: str) -> HeldLock | None:
        return _Unshared()


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """Disk full, I/O errors, a locked file: :class:`JournalError`, retried by callers."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise JournalError(str(exc)) from exc
