"""A pool of psycopg 3 connections to the fleet's shared database.

Every driver failure becomes a :class:`JournalError`, so a database outage reads to
callers like a full disk does: intake answers 503 and workers wait. The pool checks
a connection before handing it out, so the daemon recovers by itself when the
database returns. Shared locks are session advisory locks, held on a connection taken
from the pool for as long as the lock is.

A statement waits at most a third of ``journal.lease`` (the lease renewal interval), and
at least :data:`MIN_STATEMENT_BOUND`, for a lock or for anything else: one stuck behind a
lock held elsewhere ends as a :class:`JournalError` the caller retries, rather than
hanging a worker for good. Migrations alone may take as long as they need.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import psycopg_pool
from psycopg.rows import dict_row

from hookrunner.journal.database import Rows, Tx
from hookrunner.journal.interface import HeldLock
from hookrunner.journal.postgres.schema import MIGRATIONS
from hookrunner.journal.records import JournalError, SchemaTooNew, new_id

# The pool reports each failed reconnection; where the host configured no logging
# (the CLI), that is not for stderr: the caller gets one JournalError instead.
logging.getLogger("psycopg.pool").addHandler(logging.NullHandler())
# Seconds to wait for a connection before telling the caller the journal is away.
CONNECT_TIMEOUT = 5.0
# Seconds a statement may take at the least, however short the lease: a slow disk's
# commit under load must not read as an outage.
MIN_STATEMENT_BOUND = 5.0
# The advisory lock key that serialises migrations across hosts.
_MIGRATION_LOCK = 0x686F6F6B


def statement_bound(lease: float) -> float:
    """Seconds any one statement may take, lock waits included, before it is cancelled."""
    return max(lease / 3, MIN_STATEMENT_BOUND)


@functools.lru_cache(maxsize=256)
def _native(sql: str) -> str:
    """The shared queries' ``?`` placeholders as psycopg's ``%s``."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Connection:
    """A pooled connection speaking the shared queries; each statement its own cursor."""

    def __init__(self, conn: psycopg.Connection[dict[str, Any]]) -> None:
        self._conn = conn

    def execute(self, sql: str, params: Sequence[Any] = (), /) -> Rows:
        return self._conn.execute(_native(sql), tuple(params))


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    try:
        yield
    except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
        raise JournalError(f"database: {str(exc).strip().splitlines()[0]}") from exc


class _AdvisoryLock:
    def __init__(
        self, pool: psycopg_pool.ConnectionPool[Any], conn: psycopg.Connection[Any], key: str
    ) -> None:
        self._pool, self._conn, self._key = pool, conn, key

    def release(self) -> None:
        # A connection that broke has lost the lock with its session already.
        with contextlib.suppress(psycopg.Error):
            self._conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self._key,))
        self._pool.putconn(self._conn)


class PostgresDatabase:
    exclusive = False
    skip_locked = " FOR UPDATE SKIP LOCKED"
    order = "seq"

    def __init__(self, url: str, lease: float = 30.0, max_size: int = 20) -> None:
        self.owner = new_id()
        self.lease = lease
        self.statement_bound = statement_bound(lease)
        self._pool: psycopg_pool.ConnectionPool[psycopg.Connection[dict[str, Any]]] = (
            psycopg_pool.ConnectionPool(
                url,
                min_size=1,
                max_size=max_size,
                timeout=CONNECT_TIMEOUT,
                open=False,
                check=psycopg_pool.ConnectionPool.check_connection,
                configure=self._bound_statements,
                kwargs={
                    "autocommit": True,
                    "row_factory": dict_row,
                    "connect_timeout": int(CONNECT_TIMEOUT),
                },
                name="journal",
            )
        )
        with _mapped_errors():
            # One direct attempt first: its error says why (refused, auth, no database).
            psycopg.connect(url, connect_timeout=int(CONNECT_TIMEOUT)).close()
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT * 2)
        try:
            self.migrate()
        except BaseException:
            self._pool.close()
            raise

    def _bound_statements(self, conn: psycopg.Connection[Any]) -> None:
        """Every pooled connection: statements and lock waits end at the bound."""
        bound = f"{round(self.statement_bound * 1000)}ms"
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false)",
            (bound, bound),
        )

    @property
    def version(self) -> int:
        with self.read() as tx:
            row = tx.execute("SELECT version FROM schema_version").fetchone()
        return int(row["version"]) if row else 0

    def migrate(self) -> None:
        """Bring the schema up to date; one host at a time, each version once."""
        with self.write() as tx:
            tx.execute("SET LOCAL statement_timeout = 0")  # a migration takes what it takes,
            tx.execute("SET LOCAL lock_timeout = 0")  # after the host migrating before it
            tx.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            tx.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = tx.execute("SELECT version FROM schema_version").fetchone()
            version = int(row["version"]) if row else 0
            if row is None:
                tx.execute("INSERT INTO schema_version (version) VALUES (0)")
            if version > len(MIGRATIONS):
                raise SchemaTooNew(
                    f"journal schema version {version} is newer than this hookrunner knows"
                    f" ({len(MIGRATIONS)}); upgrade hookrunner"
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                tx.execute(script)
                tx.execute("UPDATE schema_version SET version = ?", (number,))

    def close(self) -> None:
        self._pool.close()

    @contextlib.contextmanager
    def write(self, durable: bool = True) -> Iterator[Tx]:
        # Every commit waits for the server's WAL flush: asking for less would cost a
        # round trip of its own (``SET LOCAL synchronous_commit``) on every transaction.
        with _mapped_errors(), self._pool.connection() as conn, conn.transaction():
            yield _Connection(conn)

    @contextlib.contextmanager
    def read(self) -> Iterator[Tx]:
        with _mapped_errors(), self._pool.connection() as conn:
            yield _Connection(conn)

    def try_lock(self, key: str) -> HeldLock | None:
        with _mapped_errors():
            conn = self._pool.getconn()
            try:
                row = conn.execute(
                    "SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS held", (key,)
                ).fetchone()
            except BaseException:
                self._pool.putconn(conn)
                raise
        if row is None or not row["held"]:
            self._pool.putconn(conn)
            return None
        return _AdvisoryLock(self._pool, conn, key)
