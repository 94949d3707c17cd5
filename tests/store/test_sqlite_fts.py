"""The SQLite store's BM25 path: scope tokens, body-only scores, inactive items."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from tmem.store.fts import match_expression, scope_token
from tmem.store.sqlite import SQLiteStore
from tmem.store.sqlite import search as sqlite_fts
from tmem.store.sqlite.schema import fts_table
from tmem.store.sqlite.search import index_terms

from .fts_stats import recomputed_lengths, stored_lengths
from .records import T0, batch, item, scene, turn


def _alice_store(rows: int) -> SQLiteStore:
    store = SQLiteStore(":memory:")
    texts = [f"Alice mentioned topic{i}" for i in range(rows - 1)] + ["Alice likes green tea"]
    store.write(batch("u1", turns=tuple(turn("u1", i, t) for i, t in enumerate(texts))))
    store.write(batch("u2", turns=(turn("u2", 0, "Bob likes green tea", speaker="bob"),)))
    return store


CORPUS = [
    "Alice mentioned the green tea ceremony in Kyoto",
    "Running shoes were on sale, Alice bought two pairs",
    "The café served matcha; Alice preferred green tea",
    "Tea, tea and more tea: Alice's whole afternoon",
    "Nothing about drinks here, only trains and stations",
]


def _fts5_scores(texts: list[str], query: str) -> list[tuple[str, float]]:
    """FTS5's own bm25() over ``texts`` in a table of their own (one user: global = per user)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE fts USING fts5(body, scope, tokenize = 'porter unicode61')")
    for i, text in enumerate(texts):
        conn.execute("INSERT INTO fts (rowid, body, scope) VALUES (?, ?, 'tok')", (i, text))
    rows = conn.execute(
        "SELECT rowid, -bm25(fts, 1.0, 0.0) AS s FROM fts WHERE fts MATCH ? ORDER BY s DESC, rowid",
        (f"body : ({match_expression(query)})",),
    ).fetchall()
    return [(f"u1-t{rowid}", score) for rowid, score in rows]


def _store(users: dict[str, list[str]]) -> SQLiteStore:
    store = SQLiteStore(":memory:")
    for user, texts in users.items():
        turns = tuple(turn(user, i, t, speaker="") for i, t in enumerate(texts))
        store.write(batch(user, turns=turns))
    return store


@pytest.mark.parametrize("query", ["green tea", "alice running", "tea", "cafe stations", "shoe"])
def test_scores_equal_fts5_bm25_for_a_lone_user(
    query: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FTS5's formula, with FTS5's reference length (the turns' gentler one set aside).
    monkeypatch.setattr(sqlite_fts, "TURN_LENGTH_SCALE", 1.0)
    hits = _store({"u1": CORPUS}).search_text("u1", "turn", query, 10)
    want = _fts5_scores([f": {t}" for t in CORPUS], query)  # a turn is indexed as "speaker: text"
    assert [h.id for h in hits] == [owner for owner, _ in want]
    assert [h.score for h in hits] == pytest.approx([score for _, score in want], rel=1e-9)


def test_fts5_ranks_when_a_query_matches_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same formula on both paths: FTS5 compares a row with its shard's plain average length,
    # so the turns' gentler reference is set aside to compare the two.
    monkeypatch.setattr(sqlite_fts, "TURN_LENGTH_SCALE", 1.0)
    store = _store({"u1": CORPUS})
    ours = store.search_text("u1", "turn", "green tea alice", 10)
    monkeypatch.setattr(sqlite_fts, "PYTHON_RANK_MAX", 1)
    theirs = store.search_text("u1", "turn", "green tea alice", 10)
    assert [h.id for h in theirs] == [h.id for h in ours]
    assert [h.score for h in theirs] == pytest.approx([h.score for h in ours], rel=1e-9)


def test_another_users_words_never_change_a_users_scores() -> None:
    # u2 says "green tea" in every row: with table-wide IDF the words would be worth ~nothing,
    # and u2's long rows would shorten u1's by comparison. IDF and average length are per user.
    alone = _store({"u1": CORPUS}).search_text("u1", "turn", "green tea", 10)
    crowd = {"u1": CORPUS, "u2": ["green tea " * 5] * 40, "u3": ["trains"] * 10}
    crowd.update({f"u{i}": ["long " * 30] * 3 for i in range(4, 40)})
    assert any(fts_table(user) == fts_table("u1") for user in crowd if user != "u1")
    shared = _store(crowd).search_text("u1", "turn", "green tea", 10)
    assert [h.id for h in shared] == [h.id for h in alone]
    assert [h.score for h in shared] == pytest.approx([h.score for h in alone], rel=1e-9)
    green = _store(crowd).search_text("u1", "turn", "green", 10)  # u1: 2 of 5 rows; u2: all
    assert len(green) == 2 and min(h.score for h in green) > 0.1


def test_index_terms_fold_case_and_accents_then_stem() -> None:
    assert index_terms("Café RUNNING, naïve_runners") == ["cafe", "run", "naiv", "runner"]


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


def test_length_statistics_follow_writes_rewrites_and_deletes() -> None:
    store = _store({"u1": CORPUS, "u2": CORPUS[:2]})
    store.write(
        batch(
            "u1",
            scenes=(scene("u1", "u1-s1", ("u1-t0",), "a long evening of green tea " * 4),),
            items=(item("u1", "u1-i1", "Alice likes tea", turns=("u1-t0",)),),
        )
    )
    conn = store._connection.raw
    assert conn is not None
    assert stored_lengths(conn) == recomputed_lengths(conn)
    assert stored_lengths(conn)[("u1", "turn")][0] == len(CORPUS)
    rewritten = item("u1", "u1-i1", "Alice now prefers coffee over every kind of tea, she says")
    store.write(batch("u1", items=(rewritten,)))  # a re-indexed row: its old length leaves
    assert stored_lengths(conn) == recomputed_lengths(conn)
    store.delete_memory("u1", "u1-t3", T0)
    assert stored_lengths(conn) == recomputed_lengths(conn)
    store.delete_user("u2")
    assert stored_lengths(conn) == recomputed_lengths(conn)
    assert not any(user == "u2" for user, _ in stored_lengths(conn))


def test_a_users_scenes_and_items_never_move_the_ranking_of_its_turns() -> None:
    # Full mode's turn floor is LLM-free mode's ranking only if what full mode derives leaves
    # the turns' scores alone: a turn's reference length comes from the user's turns only.
    store = _store({"u1": CORPUS})
    before = store.search_text("u1", "turn", "green tea alice", 10)
    narrative = "Alice talked about green tea for an hour. " * 20
    store.write(
        batch(
            "u1",
            scenes=(scene("u1", "u1-s1", ("u1-t0", "u1-t2"), narrative),),
            items=(item("u1", "u1-i1", "Alice likes green tea", turns=("u1-t2",)),),
        )
    )
    after = store.search_text("u1", "turn", "green tea alice", 10)
    assert [h.id for h in after] == [h.id for h in before]
    assert [h.score for h in after] == pytest.approx([h.score for h in before], rel=1e-12)


def test_a_turn_is_measured_against_a_multiple_of_the_users_average_turn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = _store({"u1": CORPUS})
    conn = store._connection.raw
    (rows, tokens) = conn.execute(
        "SELECT rows, tokens FROM fts_lengths WHERE user_id = 'u1' AND kind = 'turn'"
    ).fetchone()
    assert sqlite_fts._average(conn, "u1", "turn") == pytest.approx(
        sqlite_fts.TURN_LENGTH_SCALE * tokens / rows
    )
    gentle = store.search_text("u1", "turn", "green tea alice", 10)
    monkeypatch.setattr(sqlite_fts, "TURN_LENGTH_SCALE", 1.0)
    plain = store.search_text("u1", "turn", "green tea alice", 10)
    assert [h.score for h in gentle] != pytest.approx([h.score for h in plain])
