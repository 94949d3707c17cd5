"""Taking the file's write lock: a write waits for another connection's lock, then starts."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from tmem.store.sqlite import connection as conn_module
from tmem.store.sqlite.connection import BUSY_TIMEOUT_S, begin_immediate, connect


def _pair(tmp_path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    path = str(tmp_path / "lock.db")
    first = connect(path, durable=False)
    first.execute("CREATE TABLE t (x INTEGER)")
    return first, connect(path, durable=False)


def _busy_timeout(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA busy_timeout").fetchone()[0])


def test_a_write_starts_once_the_other_connection_commits(tmp_path: Path) -> None:
    holder, waiter = _pair(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("INSERT INTO t VALUES (1)")
    tries: list[str] = []
    waiter.set_trace_callback(lambda sql: tries.append(sql) if sql == "BEGIN IMMEDIATE" else None)
    release = threading.Timer(0.05, lambda: holder.execute("COMMIT"))
    release.start()
    begin_immediate(waiter, BUSY_TIMEOUT_S)
    release.join()
    assert waiter.in_transaction
    assert len(tries) > 1  # it met the lock and tried again
    assert waiter.execute("SELECT x FROM t").fetchall() == [(1,)]  # it sees the other's commit
    waiter.execute("COMMIT")
    assert _busy_timeout(waiter) == int(BUSY_TIMEOUT_S * 1000)


def test_a_lock_held_past_the_budget_fails_as_busy(tmp_path: Path) -> None:
    holder, waiter = _pair(tmp_path)
    holder.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as caught:
        begin_immediate(waiter, 0.02)
    assert caught.value.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    assert not waiter.in_transaction
    assert _busy_timeout(waiter) == int(BUSY_TIMEOUT_S * 1000)  # other statements keep waiting
    holder.execute("ROLLBACK")


def test_other_errors_are_not_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, conn = _pair(tmp_path)
    conn.execute("BEGIN")
    slept: list[float] = []
    monkeypatch.setattr(conn_module.time, "sleep", slept.append)
    with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
        begin_immediate(conn, BUSY_TIMEOUT_S)
    assert slept == []
