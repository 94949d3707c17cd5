"""Query building and indexed text, shared by every backend."""

from __future__ import annotations

import re
import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.store.fts import (
    MAX_QUERY_TOKENS,
    index_text,
    match_expression,
    query_tokens,
    scope_token,
    scoped_expression,
)

from .records import item, scene, turn


def test_tokens_are_quoted_and_or_joined() -> None:
    assert match_expression('tea "NEAR(coffee)" -milk*') == '"tea" OR "NEAR" OR "coffee" OR "milk"'
    assert match_expression("") is None
    assert match_expression(" \"'*()-^:{}\x00") is None


def test_tokens_are_distinct_and_bounded() -> None:
    assert query_tokens("tea b tea") == ["tea", "b"]


def test_stop_words_are_not_searched() -> None:
    assert query_tokens("What about the Cello?") == ["Cello"]
    assert match_expression("what is the") is None
    assert len(query_tokens(" ".join(f"w{i}" for i in range(500)))) == MAX_QUERY_TOKENS


@given(st.text())
def test_expression_is_always_a_list_of_plain_phrases(query: str) -> None:
    expression = match_expression(query)
    if expression is not None:
        phrases = expression.split(" OR ")
        assert all(re.fullmatch(r'"[^"\s]+"', p) for p in phrases)


def test_index_text_per_kind() -> None:
    assert index_text(turn("u", 0, "hello", speaker="bob")) == "bob: hello"
    s = scene("u", "s", (), "the narrative")
    assert index_text(s).split("\n") == ["title s", "summary s", "the narrative"]
    i = item("u", "i", "content", keywords=("k1", "k2"))
    assert index_text(i).startswith("content\nk1 k2")


ODD_USER_IDS = ["a", "A", "a b", 'quote"d', "ünï", "emoji-🙂", "x", "ax", "0", "user:turn"]


@pytest.mark.parametrize("kind", ["turn", "scene", "item"])
def test_scope_tokens_match_the_migration_sql_and_never_collide(kind: str) -> None:
    conn = sqlite3.connect(":memory:")
    tokens = []
    for user_id in ODD_USER_IDS:
        (sql,) = conn.execute("SELECT 'u' || hex(?) || 'x' || ?", (user_id, kind)).fetchone()
        assert scope_token(user_id, kind) == sql
        assert sql.isalnum() and sql.isascii()
        tokens.append(sql.lower())  # FTS5 folds case
    assert len(set(tokens)) == len(ODD_USER_IDS)


def test_a_scoped_match_finds_only_that_users_rows() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE fts USING fts5(body, scope, tokenize='porter unicode61')")
    for user_id in ODD_USER_IDS:
        conn.execute(
            "INSERT INTO fts (body, scope) VALUES (?, ?)",
            (f"shellfish allergy of {user_id}", scope_token(user_id, "turn")),
        )
    for user_id in ODD_USER_IDS:
        query = scoped_expression(user_id, "turn", '"shellfish" OR "allergy"')
        rows = conn.execute("SELECT body FROM fts WHERE fts MATCH ?", (query,)).fetchall()
        assert rows == [(f"shellfish allergy of {user_id}",)]
