"""The SQLite store's per-user full-text length statistics, read back and recounted."""

from __future__ import annotations

import sqlite3

from tmem.store.sqlite.schema import fts_tables
from tmem.store.sqlite.search import index_terms


def recomputed_lengths(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    """Per user and kind: rows and tokens, counted from the FTS shards themselves."""
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for table in fts_tables():
        for user, kind, body in conn.execute(f"SELECT user_id, kind, body FROM {table}"):
            rows, tokens = counts.get((user, kind), (0, 0))
            counts[(user, kind)] = (rows + 1, tokens + len(index_terms(body)) + 1)
    return counts


def stored_lengths(conn: sqlite3.Connection) -> dict[tuple[str, str], tuple[int, int]]:
    rows = conn.execute("SELECT user_id, kind, rows, tokens FROM fts_lengths").fetchall()
    return {(user, kind): (n, tokens) for user, kind, n, tokens in rows}
