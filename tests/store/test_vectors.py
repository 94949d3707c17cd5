"""Exact top-k and the generation-keyed matrix cache."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tmem.models import Turn
from tmem.store.base import VectorRow, WriteBatch
from tmem.store.vectors import Delta, VectorCache, VectorMatrix, batch_delta, top_k


@given(
    hnp.arrays(
        np.float32, st.tuples(st.integers(1, 40), st.just(4)), elements=st.floats(-1, 1, width=32)
    ),
    st.integers(1, 50),
)
def test_top_k_matches_a_full_sort(matrix: np.ndarray, limit: int) -> None:
    ids = tuple(f"id{i:03d}" for i in range(len(matrix)))
    query = np.array([1, 0.5, -0.25, 0], dtype=np.float32)
    hits = top_k(VectorMatrix(0, ids, matrix), query, limit)
    scores = matrix @ query
    expected = sorted(zip(ids, scores, strict=True), key=lambda p: (-float(p[1]), p[0]))[:limit]
    assert [h.id for h in hits] == [i for i, _ in expected]


def test_rows_of_another_dimension_are_left_out() -> None:
    rows = [("a", np.ones(4, np.float32)), ("b", np.ones(3, np.float32))]
    matrix = VectorMatrix.build(1, rows, 4)
    assert matrix.ids == ("a",) and matrix.matrix.shape == (1, 4)
    assert VectorMatrix.build(1, [], 4).matrix.shape == (0, 4)
    assert top_k(matrix, np.ones(4, np.float32), 0) == []


def test_cache_is_keyed_by_generation_and_bounded() -> None:
    cache = VectorCache(max_entries=2)
    empty = VectorMatrix.build(3, [], 4)
    cache.put("u", "turn", 4, empty)
    assert cache.get("u", "turn", 4, 3) is empty
    assert cache.get("u", "turn", 4, 4) is None
    cache.put("v", "turn", 4, empty)
    cache.put("w", "turn", 4, empty)
    assert cache.get("u", "turn", 4, 3) is None  # evicted, least recently used
    cache.forget("v")
    assert cache.get("v", "turn", 4, 3) is None and cache.get("w", "turn", 4, 3) is empty


def test_from_blobs_equals_build() -> None:
    rows = [("a", np.arange(4, dtype=np.float32)), ("b", np.ones(4, np.float32))]
    blobs = [(o, v.astype("<f4").tobytes()) for o, v in rows] + [("c", b"\x00" * 12)]
    built, decoded = VectorMatrix.build(2, rows, 4), VectorMatrix.from_blobs(2, blobs, 4)
    assert decoded.ids == built.ids == ("a", "b")
    assert np.array_equal(decoded.matrix, built.matrix) and decoded.matrix.dtype == np.float32
    assert VectorMatrix.from_blobs(2, [], 4).matrix.shape == (0, 4)


def _rows(*owners: str) -> list[tuple[str, np.ndarray]]:
    return [
        (o, np.random.default_rng(len(o) + ord(o[0])).standard_normal(4).astype(np.float32))
        for o in owners
    ]


def test_advance_appends_in_place_and_matches_a_rebuild() -> None:
    cache = VectorCache()
    cache.put("u", "turn", 4, VectorMatrix.build(1, _rows("a", "b"), 4))
    for generation, owner in enumerate(("c", "d", "e"), start=2):
        delta = Delta({"turn": _rows(owner)}, frozenset(), frozenset({owner}))
        cache.advance("u", generation - 1, generation, delta)
    advanced = cache.get("u", "turn", 4, 4)
    rebuilt = VectorMatrix.build(4, _rows("a", "b", "c", "d", "e"), 4)
    assert advanced is not None and advanced.ids == rebuilt.ids
    assert np.array_equal(advanced.matrix, rebuilt.matrix)
    query = np.ones(4, np.float32)
    assert top_k(advanced, query, 3) == top_k(rebuilt, query, 3)


def test_advance_replaces_and_removes_rows() -> None:
    cache = VectorCache()
    cache.put("u", "item", 4, VectorMatrix.build(1, _rows("a", "b", "c"), 4))
    new_b = np.array([1, 0, 0, 0], np.float32)
    cache.advance("u", 1, 2, Delta({"item": [("b", new_b)]}, frozenset({"a"}), frozenset()))
    matrix = cache.get("u", "item", 4, 2)
    assert matrix is not None and sorted(matrix.ids) == ["b", "c"]
    assert np.array_equal(matrix.matrix[matrix.ids.index("b")], new_b)


def test_advance_from_another_generation_or_without_delta_drops() -> None:
    cache = VectorCache()
    cache.put("u", "turn", 4, VectorMatrix.build(5, _rows("a"), 4))
    cache.advance("u", 4, 6, Delta({"turn": _rows("b")}, frozenset(), frozenset({"b"})))
    assert cache.get("u", "turn", 4, 6) is None and cache.get("u", "turn", 4, 5) is None
    cache.put("u", "turn", 4, VectorMatrix.build(5, _rows("a"), 4))
    cache.advance("u", 5, 6, None)
    assert cache.get("u", "turn", 4, 6) is None


def test_old_matrix_keeps_its_rows_after_later_appends() -> None:
    first = VectorMatrix.build(1, _rows("a"), 4)
    second = first.appended(2, ["b"], np.ones((1, 4), np.float32))
    third = second.appended(3, ["c"], np.zeros((1, 4), np.float32))
    assert second.ids == ("a", "b") and second.matrix.shape == (2, 4)
    assert third.ids == ("a", "b", "c") and np.array_equal(third.matrix[1], np.ones(4))


def test_cache_is_bounded_by_bytes_keeping_the_newest() -> None:
    big = VectorMatrix.build(1, _rows("a", "b"), 4)
    cache = VectorCache(max_bytes=big.nbytes)
    cache.put("u", "turn", 4, big)
    cache.put("v", "turn", 4, big)
    assert cache.get("u", "turn", 4, 1) is None and cache.get("v", "turn", 4, 1) is big


def test_batch_delta_needs_owners_in_the_batch() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    turn = Turn("t1", "u", "s", 0, "Ana", "hi", at)
    vector = np.ones(4, np.float32)
    delta = batch_delta(
        WriteBatch("u", at, turns=(turn,), vectors=(VectorRow("t1", "turn", vector),))
    )
    assert delta is not None and [o for o, _ in delta.upserts["turn"]] == ["t1"]
    assert batch_delta(WriteBatch("u", at, delete_triggers_of=("t1",))) is None


def test_a_vector_of_an_owner_outside_the_batch_needs_it_in_the_matrix() -> None:
    at = datetime(2024, 1, 1, tzinfo=UTC)
    vector = np.ones(4, np.float32)
    delta = batch_delta(WriteBatch("u", at, vectors=(VectorRow("a", "context", vector),)))
    assert delta is not None
    cache = VectorCache()
    cache.put("u", "context", 4, VectorMatrix.build(1, _rows("a"), 4))
    cache.advance("u", 1, 2, delta)
    kept = cache.get("u", "context", 4, 2)
    assert kept is not None and np.array_equal(kept.matrix[0], vector)
    stranger = batch_delta(WriteBatch("u", at, vectors=(VectorRow("z", "context", vector),)))
    cache.advance("u", 2, 3, stranger)
    assert cache.get("u", "context", 4, 3) is None
