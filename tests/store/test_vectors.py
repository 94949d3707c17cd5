"""Exact top-k and the generation-keyed matrix cache."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tmem.store.vectors import VectorCache, VectorMatrix, top_k


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
