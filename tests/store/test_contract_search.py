"""Store contract: BM25 and vector search, including hostile query text."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmem.errors import InputError
from tmem.store.base import Store, VectorRow

from .records import DIM, batch, item, scene, trigger, turn, unit

HOSTILE = [
    "",
    "   ",
    '"',
    '""',
    "'",
    "NEAR(a b)",
    "a NEAR b",
    "tea*",
    "*",
    "-tea",
    "tea -coffee",
    "(tea",
    "tea)",
    "AND",
    "OR OR",
    "NOT tea",
    "body:tea",
    "user_id:u1",
    "{body}: tea",
    "^tea",
    "tea\x00coffee",
    "\x00",
    "ünïcödé 茶 🍵",
    "a" * 5000,
    " ".join(f"w{i}" for i in range(1000)),
    "'; DROP TABLE turns; --",
]


def _seed_text(store: Store) -> None:
    turns = (turn("u1", 0, "I drink green tea every morning"), turn("u1", 1, "Coffee is bitter"))
    store.write(
        batch(
            "u1",
            turns=turns,
            scenes=(scene("u1", "sc1", ("u1-t0",), "Alice talks about her tea ritual."),),
            items=(
                item("u1", "it1", "Alice drinks green tea", keywords=("beverage",)),
                item("u1", "it2", "Alice dislikes coffee"),
            ),
        )
    )


def test_search_text_finds_by_kind_best_first(store: Store) -> None:
    _seed_text(store)
    hits = store.search_text("u1", "item", "green tea", 10)
    assert [h.id for h in hits] == ["it1"]
    assert [h.id for h in store.search_text("u1", "turn", "coffee", 10)] == ["u1-t1"]
    assert [h.id for h in store.search_text("u1", "scene", "ritual", 10)] == ["sc1"]
    assert [h.id for h in store.search_text("u1", "item", "beverage", 10)] == ["it1"]
    both = store.search_text("u1", "item", "alice green", 10)
    assert [h.id for h in both] == ["it1", "it2"] and both[0].score > both[1].score


def test_search_text_stems_and_limits(store: Store) -> None:
    _seed_text(store)
    assert [h.id for h in store.search_text("u1", "item", "drinking", 10)] == ["it1"]
    assert len(store.search_text("u1", "item", "alice", 1)) == 1
    assert store.search_text("u1", "item", "alice", 0) == []


@pytest.mark.parametrize("query", HOSTILE)
def test_search_text_hostile_queries_never_raise(store: Store, query: str) -> None:
    _seed_text(store)
    hits = store.search_text("u1", "item", query, 5)
    assert all(h.id in {"it1", "it2"} for h in hits)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.text(max_size=80))
def test_search_text_any_text_is_safe(store: Store, query: str) -> None:
    if not store.users():
        _seed_text(store)
    for kind in ("turn", "scene", "item"):
        hits = store.search_text("u1", kind, query, 5)  # type: ignore[arg-type]
        assert all(h.id in {"u1-t0", "u1-t1", "sc1", "it1", "it2"} for h in hits)


def test_search_text_rejects_unknown_kind(store: Store) -> None:
    with pytest.raises(InputError):
        store.search_text("u1", "persona", "x", 5)  # type: ignore[arg-type]


def test_search_vectors_exact_cosine_best_first(store: Store) -> None:
    turns = tuple(turn("u1", i, f"t{i}") for i in range(5))
    vectors = tuple(VectorRow(t.id, "turn", unit(1, i)) for i, t in enumerate(turns))
    store.write(batch("u1", turns=turns, vectors=vectors))
    query = unit(1)
    hits = store.search_vectors("u1", "turn", query, 3)
    assert [h.id for h in hits] == ["u1-t0", "u1-t1", "u1-t2"]
    expected = [float(np.dot(query, unit(1, i))) for i in range(3)]
    assert [h.score for h in hits] == pytest.approx(expected, abs=1e-6)
    assert len(store.search_vectors("u1", "turn", query, 50)) == 5
    assert store.search_vectors("u1", "context", query, 5) == []
    assert store.search_vectors("nobody", "turn", query, 5) == []


def test_search_vectors_sees_writes_and_deletes_at_once(store: Store) -> None:
    store.write(
        batch("u1", turns=(turn("u1", 0, "a"),), vectors=(VectorRow("u1-t0", "turn", unit(1)),))
    )
    assert [h.id for h in store.search_vectors("u1", "turn", unit(1), 5)] == ["u1-t0"]
    store.write(
        batch(
            "u1", turns=(turn("u1", 1, "b"),), vectors=(VectorRow("u1-t1", "turn", unit(1, 0.1)),)
        )
    )
    assert [h.id for h in store.search_vectors("u1", "turn", unit(1), 5)] == ["u1-t0", "u1-t1"]
    store.delete_memory("u1", "u1-t0", batch("u1").at)
    assert [h.id for h in store.search_vectors("u1", "turn", unit(1), 5)] == ["u1-t1"]
    store.write(batch("u1", vectors=(VectorRow("u1-t1", "turn", unit(0, 1)),)))
    assert store.search_vectors("u1", "turn", unit(0, 1), 5)[0].score == pytest.approx(1.0)


def test_search_vectors_ignores_vectors_without_owner(store: Store) -> None:
    store.write(batch("u1", vectors=(VectorRow("ghost", "item", unit(1)),)))
    assert store.search_vectors("u1", "item", unit(1), 5) == []


def test_trigger_vectors_are_searchable_until_trigger_dies(store: Store) -> None:
    store.write(
        batch(
            "u1",
            items=(item("u1", "it1", "fact"),),
            triggers=(trigger("u1", "tr1", "concept", "it1"),),
            vectors=(VectorRow("tr1", "entity", unit(1)),),
        )
    )
    assert [h.id for h in store.search_vectors("u1", "entity", unit(1), 5)] == ["tr1"]
    store.delete_memory("u1", "it1", batch("u1").at)
    assert store.search_vectors("u1", "entity", unit(1), 5) == []
    assert store.triggers_for("u1", ["tr1"]) == []


def test_search_vectors_rejects_bad_queries(store: Store) -> None:
    with pytest.raises(InputError):
        store.search_vectors("u1", "nope", unit(1), 5)
    with pytest.raises(InputError):
        store.search_vectors("u1", "turn", np.full(DIM, np.nan, dtype=np.float32), 5)


def test_search_order_is_deterministic_on_ties(store: Store) -> None:
    turns = tuple(turn("u1", i, "same words here") for i in range(6))
    store.write(
        batch("u1", turns=turns, vectors=tuple(VectorRow(t.id, "turn", unit(1)) for t in turns))
    )
    first = store.search_vectors("u1", "turn", unit(1), 3)
    assert first == store.search_vectors("u1", "turn", unit(1), 3)
    assert [h.id for h in first] == ["u1-t0", "u1-t1", "u1-t2"]
    text = store.search_text("u1", "turn", "words", 4)
    assert text == store.search_text("u1", "turn", "words", 4)
    assert [h.id for h in text] == sorted(h.id for h in text)
