"""The SQLite store's BM25 path: scope tokens, body-only scores, inactive items."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from tmem.store import sqlite_fts
from tmem.store.fts import scope_token
from tmem.store.sqlite import SQLiteStore

from .records import batch, item, turn


def _alice_store(rows: int) -> SQLiteStore:
    store = SQLiteStore(":memory:")
    texts = [f"Alice mentioned topic{i}" for i in range(rows - 1)] + ["Alice likes green tea"]
    store.write(batch("u1", turns=tuple(turn("u1", i, t) for i, t in enumerate(texts))))
    store.write(batch("u2", turns=(turn("u2", 0, "Bob likes green tea", speaker="bob"),)))
    return store


def test_scores_follow_the_body_bm25() -> None:
    # The scope column has weight 0; it only adds one token to each row's length, which moves
    # BM25's length normalisation a little and leaves the order as plain FTS5 ranks it.
    store = _alice_store(8)
    hits = store.search_text("u1", "turn", "green topic1 topic2", 10)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE fts USING fts5(body, owner, tokenize = 'porter unicode61')")
    for record in [
        *store.turns("u1", [f"u1-t{i}" for i in range(8)]),
        *store.turns("u2", ["u2-t0"]),
    ]:
        conn.execute("INSERT INTO fts (body, owner) VALUES (?, ?)", (record.text, record.id))
    plain = conn.execute(
        "SELECT owner, -bm25(fts, 1.0, 0.0) AS s FROM fts"
        ' WHERE fts MATCH \'body : ("green" OR "topic1" OR "topic2")\''
        " AND owner LIKE 'u1-%' ORDER BY s DESC, rowid"
    ).fetchall()
    assert [h.id for h in hits] == [owner for owner, _ in plain] == ["u1-t1", "u1-t2", "u1-t7"]
    assert [h.score for h in hits] == pytest.approx([score for _, score in plain], rel=0.05)


def test_query_words_never_match_a_scope_token() -> None:
    store = _alice_store(3)
    token = scope_token("u1", "turn")
    assert store.search_text("u1", "turn", token, 10) == []
    assert store.search_text("u2", "turn", token, 10) == []


def test_inactive_items_are_skipped_even_when_they_outrank_the_active_ones() -> None:
    store = SQLiteStore(":memory:")
    stale = [
        replace(item("u1", f"old{i}", "tea tea tea tea"), status="superseded")
        for i in range(3 * sqlite_fts.ITEM_SLACK)
    ]
    store.write(batch("u1", items=(*stale, item("u1", "new", "tea once, among many other words"))))
    assert [h.id for h in store.search_text("u1", "item", "tea", 2)] == ["new"]
