"""A small thread-safe pool of psycopg connections and the transaction helper built on it.

psycopg_pool would do, but it is one more dependency for what fits in a page: connections are
opened lazily up to ``size``, handed out one per caller, and returned idle (rolled back if a
caller left a transaction open, dropped if the server closed them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.abc import Buffer
from psycopg.pq import TransactionStatus
from psycopg.types.datetime import TimestamptzLoader

from tmem.errors import InputError, StoreError, TmemError
from tmem.store.postgres.schema import TENANT_SETTING
from tmem.timestamps import EARLIEST, LATEST

Connection = psycopg.Connection[tuple[Any, ...]]
Cursor = psycopg.Cursor[tuple[Any, ...]]
T = TypeVar("T")

# Read Committed rarely aborts, but concurrent writers of one user can still deadlock (40P01) and
# Citus or a stricter default isolation can raise 40001; both are safe to retry from scratch.
_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)
_ATTEMPTS = 4


class ConnectionPool:
    """Up to ``size`` connections to ``url``, shared by threads."""

    def __init__(self, url: str, size: int) -> None:
        if size < 1:
            raise StoreError(f"pool_size must be at least 1, got {size}")
        self._url = url
        self._idle: list[Connection] = []
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """Borrow a connection; waits while all ``size`` are in use."""
        with self._slots:
            conn = self._take()
            try:
                yield conn
            finally:
                self._give_back(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _take(self) -> Connection:
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if self._idle:
                return self._idle.pop()
        try:
            conn = psycopg.connect(self._url, autocommit=False)
            prepare(conn)
        except psycopg.Error as error:
            raise StoreError(f"cannot connect to Postgres: {error}") from error
        return conn

    def _give_back(self, conn: Connection) -> None:
        if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.rollback()
            except psycopg.Error:
                conn.close()
        with self._lock:
            if conn.closed or self._closed:
                conn.close()
            else:
                self._idle.append(conn)


class _ClampedTimestamptzLoader(TimestamptzLoader):
    """Reads a ``timestamptz`` Python cannot hold as the nearest end of the accepted range.

    tmem refuses such values on the way in (:mod:`tmem.timestamps`), but a row written before
    that check (or by hand) must not make every read of its user fail (issue 12).
    """

    def load(self, data: Buffer) -> datetime:
        try:
            return super().load(data)
        except psycopg.DataError:
            text = bytes(data)
            return EARLIEST if text.startswith(b"-") or text.endswith(b" BC") else LATEST


def prepare(conn: Connection) -> None:
    """Session settings every pooled connection needs.

    UTC, so a stored instant near either end of years 1..9999 loads whatever the server's
    default zone is (a zone east or west of UTC could push it past Python's range).
    """
    conn.adapters.register_loader("timestamptz", _ClampedTimestamptzLoader)
    conn.execute("SET TIME ZONE 'UTC'")
    conn.commit()


@contextmanager
def transaction(pool: ConnectionPool, user_id: str | None) -> Iterator[Cursor]:
    """One transaction on a pooled connection, scoped to ``user_id`` for Row-Level Security."""
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cursor:
        if user_id is not None:
            # SET LOCAL rather than set_config(): Citus forwards SET LOCAL to the workers
            # (citus.propagate_set_commands = 'local'), where the policies are evaluated.
            cursor.execute(
                sql.SQL("SET LOCAL {} = {}").format(
                    sql.Identifier(*TENANT_SETTING.split(".")), sql.Literal(user_id)
                )
            )
        yield cursor


def run(pool: ConnectionPool, user_id: str | None, work: Callable[[Cursor], T]) -> T:
    """Run ``work`` in a transaction, retrying deadlocks and serialisation failures.

    Raises:
        InputError: a value cannot be stored (Postgres text cannot hold NUL characters).
        StoreError: the database refused or failed, with the server's message.
    """
    for _ in range(_ATTEMPTS - 1):
        try:
            with transaction(pool, user_id) as cursor:
                return work(cursor)
        except _RETRYABLE:
            continue
        except psycopg.Error as error:
            raise _translated(error) from error
    try:
        with transaction(pool, user_id) as cursor:
            return work(cursor)
    except psycopg.Error as error:
        raise _translated(error) from error


def _translated(error: psycopg.Error) -> TmemError:
    if isinstance(error, psycopg.DataError):  # e.g. a NUL character, which text cannot hold
        return InputError(f"Postgres refused a value: {error}")
    return StoreError(f"Postgres error: {error}")
