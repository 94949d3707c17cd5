"""Connections to a SQLite store: opening one with tmem's settings, and its transactions.

One connection serves all threads, guarded by a re-entrant lock; every write is one
``BEGIN IMMEDIATE`` transaction, every multi-statement read one ``BEGIN DEFERRED`` snapshot.
The :class:`~tmem.store.sqlite.SQLiteStore` and its service object share one
:class:`Connection`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

from tmem.errors import StoreError
from tmem.persona.entries import legacy_entry_id
from tmem.store.fts import indexed_length
from tmem.store.sqlite.schema import fts_shard


class Connection:
    """The store's one ``sqlite3`` connection, its lock, and transactions on it."""

    def __init__(self, path: str, *, durable: bool) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._conn: sqlite3.Connection | None = connect(path, durable=durable)

    @property
    def raw(self) -> sqlite3.Connection:
        """The open ``sqlite3`` connection (outside any transaction of this object).

        Raises:
            StoreError: the connection was closed.
        """
        if self._conn is None:
            raise StoreError(f"store {self.path!r} is closed")
        return self._conn

    @property
    def closed(self) -> bool:
        return self._conn is None

    @contextmanager
    def transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction; sqlite3 errors surface as :class:`StoreError`."""
        with self.lock:
            conn = self.raw
            try:
                if begin == IMMEDIATE:
                    begin_immediate(conn, BUSY_TIMEOUT_S)
                else:
                    conn.execute(begin)
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store {self.path!r}: {exc}") from exc
                raise

    def writing(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction: ``BEGIN IMMEDIATE`` takes the file's write lock at once."""
        return self.transaction(IMMEDIATE)

    def reading(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read snapshot."""
        return self.transaction("BEGIN DEFERRED")

    def checkpoint(self) -> None:
        """Copy the WAL into the file and truncate it: erased text leaves the WAL.

        With ``secure_delete`` on, the copied pages carry zeros where the erased rows were.
        A passive pass copies the frames first without holding other connections' writers;
        the truncating pass, which does hold them, then has only the frames written since.
        A reader in another connection can keep the checkpoint from finishing; the next
        deletion (or SQLite's automatic checkpoint) completes it.
        """
        if self.path == ":memory:":
            return
        with self.lock:
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    def close(self) -> None:
        with self.lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def connect(path: str, *, durable: bool) -> sqlite3.Connection:
    """Open ``path`` with tmem's settings; refuse files that are not SQLite databases.

    Raises:
        StoreError: the file cannot be opened or is not a SQLite database.
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _configure(conn, in_memory=path == ":memory:", durable=durable)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{path!r} is not a usable SQLite database: {exc}") from exc
    return conn


BUSY_TIMEOUT_S = 5.0
"""How long a statement waits for another connection's lock before it fails."""

IMMEDIATE = "BEGIN IMMEDIATE"

LOCK_POLL_S = 0.0005
"""How often a write waiting for another connection's write lock tries again."""


def begin_immediate(conn: sqlite3.Connection, budget_s: float) -> None:
    """``BEGIN IMMEDIATE``, waiting up to ``budget_s`` for another connection's write lock.

    SQLite's own busy handler sleeps in growing steps (1, 2, 5, 10, 15, 20, 25 ms, then up to
    100 ms), so a write that meets a 35 ms transaction of another process would start 53 ms
    later. Trying again every :data:`LOCK_POLL_S` starts it within a millisecond of the lock's
    release. Other statements keep the busy handler.

    Raises:
        sqlite3.OperationalError: the lock stayed taken for the whole budget, or another error.
    """
    deadline = time.monotonic() + budget_s
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.execute(IMMEDIATE)
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF not in _BUSY_CODES or time.monotonic() >= deadline:
                    raise
            time.sleep(LOCK_POLL_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")


_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _configure(conn: sqlite3.Connection, *, in_memory: bool, durable: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    conn.create_function("tmem_fts_shard", 1, fts_shard, deterministic=True)
    conn.create_function("tmem_fts_length", 1, indexed_length, deterministic=True)
    conn.create_function("tmem_persona_id", 4, legacy_entry_id, deterministic=True)
    if not in_memory:
        enable_wal(conn, BUSY_TIMEOUT_S)
    # NORMAL survives application crashes; FULL also keeps every acknowledged commit through
    # power loss, at the price of an fsync per commit.
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")


def enable_wal(conn: sqlite3.Connection, budget_s: float) -> None:
    """Put the file in WAL mode, retrying while other connections hold it, for ``budget_s``.

    Converting needs the file to itself, and SQLite fails a conversion that would wait on
    another connection's lock at once, without its busy handler: two processes opening a new
    store together would see "database is locked". WAL is a property of the file, so the mode
    is read first and an open after the first converts nothing and takes no lock.

    Raises:
        sqlite3.OperationalError: the file stayed locked for the whole budget.
    """
    deadline = time.monotonic() + budget_s
    delay = 0.002
    while True:
        try:
            if _journal_mode(conn, "PRAGMA journal_mode") == "wal":
                return
            if _journal_mode(conn, "PRAGMA journal_mode = WAL") == "wal":
                return
            refused: sqlite3.OperationalError | None = None
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _BUSY_CODES:  # the primary code
                raise
            refused = exc
        if time.monotonic() >= deadline:
            raise refused or sqlite3.OperationalError("the file refused WAL mode")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _journal_mode(conn: sqlite3.Connection, statement: str) -> str:
    row = conn.execute(statement).fetchone()
    return str(row[0]).lower() if row else ""
