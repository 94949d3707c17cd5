from __future__ import annotations

import random
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.retrieve.fusion import rrf

ids = st.sampled_from([f"d{i}" for i in range(12)])
rankings = st.dictionaries(
    st.sampled_from(["dense", "bm25", "entity", "bridge", "scene"]),
    st.lists(ids, max_size=12, unique=True),
    max_size=5,
)


def test_rrf_hand_computed() -> None:
    fused = rrf({"a": ["x", "y"], "b": ["y", "z"]}, k=60)
    scores = {f.id: f.score for f in fused}
    assert scores["y"] == pytest.approx(1 / 62 + 1 / 61)
    assert scores["x"] == pytest.approx(1 / 61)
    assert scores["z"] == pytest.approx(1 / 62)
    assert [f.id for f in fused] == ["y", "x", "z"]
    assert fused[0].channels == ("a", "b")


@given(rankings, st.randoms())
def test_rrf_ignores_channel_order(data: dict[str, list[str]], rnd: random.Random) -> None:
    items = list(data.items())
    rnd.shuffle(items)
    assert rrf(dict(items)) == rrf(data)


@given(rankings)
def test_rrf_covers_every_id_once_and_sorts_descending(data: dict[str, list[str]]) -> None:
    fused = rrf(data)
    assert sorted(f.id for f in fused) == sorted({d for ranking in data.values() for d in ranking})
    assert all(a.score >= b.score for a, b in pairwise(fused))


@given(st.lists(ids, min_size=2, max_size=12, unique=True), st.integers(0, 100))
def test_rrf_is_monotone_in_rank_within_one_channel(ranking: list[str], k: int) -> None:
    fused = rrf({"only": ranking}, k=k)
    assert [f.id for f in fused] == ranking


@given(rankings, st.sampled_from(["dense", "bm25"]), ids)
def test_adding_a_channel_vote_never_lowers_a_score(
    data: dict[str, list[str]], channel: str, doc: str
) -> None:
    before = {f.id: f.score for f in rrf(data)}
    boosted = dict(data)
    boosted["extra"] = [doc]
    after = {f.id: f.score for f in rrf(boosted)}
    assert after[doc] > before.get(doc, 0.0)


def test_rrf_rejects_negative_k() -> None:
    with pytest.raises(ValueError):
        rrf({"a": ["x"]}, k=-1)
