"""BM25 over one user's rows of the SQLite FTS5 table.

Every row carries its user's scope token (:func:`tmem.store.fts.scope_token`), so a query ANDs
that token in and FTS5 walks one user's postings, not every user's. The ranking subquery reads
only the rowid and the BM25 score; owner ids come from ``fts_docs`` for the few rows kept, since
reading an ``UNINDEXED`` column for every match costs more than the match itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from tmem.models import Kind
from tmem.store.base import Scored
from tmem.store.fts import match_expression, scoped_expression

ITEM_SLACK = 4
"""Items may be inactive: rank this many times the limit before filtering them out."""


def search_text(
    conn: sqlite3.Connection, user_id: str, kind: Kind, query: str, limit: int
) -> list[Scored]:
    """The best ``limit`` of ``user_id``'s active ``kind`` rows for ``query``, by BM25."""
    expression = match_expression(query)
    if expression is None or limit <= 0:
        return []
    scoped = scoped_expression(user_id, kind, expression)
    if kind != "item":
        return _ranked(conn, user_id, scoped, limit)
    wanted = limit * ITEM_SLACK
    ranked = _ranked(conn, user_id, scoped, wanted)
    if len(ranked) == wanted and len(_active(conn, user_id, ranked)) < limit:
        ranked = _ranked(conn, user_id, scoped, None)
    return _active(conn, user_id, ranked)[:limit]


def _ranked(
    conn: sqlite3.Connection, user_id: str, expression: str, limit: int | None
) -> list[Scored]:
    rows = conn.execute(
        "SELECT d.owner_id, m.score FROM ("
        "  SELECT rowid, -bm25(fts, 1.0, 0.0) AS score FROM fts WHERE fts MATCH ?"
        "  ORDER BY score DESC, rowid LIMIT ?"
        ") m JOIN fts_docs d ON d.doc = m.rowid AND d.user_id = ?"
        " ORDER BY m.score DESC, m.rowid",
        (expression, -1 if limit is None else limit, user_id),
    ).fetchall()
    return [Scored(str(owner), float(score)) for owner, score in rows]


def _active(conn: sqlite3.Connection, user_id: str, ranked: Sequence[Scored]) -> list[Scored]:
    ids = [hit.id for hit in ranked]
    active: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id FROM items WHERE user_id = ? AND status = 'active' AND id IN ({marks})",
            (user_id, *chunk),
        )
        active.update(str(item_id) for (item_id,) in rows)
    return [hit for hit in ranked if hit.id in active]
