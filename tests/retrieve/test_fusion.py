from __future__ import annotations

import random
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.config import AdaptiveWeights, Config, RetrievalConfig
from tmem.errors import ConfigError
from tmem.retrieve.fusion import adaptive_weights, fuse, rrf, weighted_rrf

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


SETTINGS = AdaptiveWeights(
    lexical_null=4.0, lexical_sure=8.0, lexical_weight=2.0, context_weight=0.5
)


@given(rankings)
def test_unit_weights_are_plain_rrf(data: dict[str, list[str]]) -> None:
    assert weighted_rrf(data, {"dense": 1.0, "bm25": 1.0}) == rrf(data)


def test_weighted_rrf_hand_computed_and_zero_weight_ids_kept_last() -> None:
    fused = weighted_rrf({"bm25": ["x", "y"], "dense": ["y", "z"]}, {"bm25": 0.0}, k=60)
    assert [f.id for f in fused] == ["y", "z", "x"]
    scores = {f.id: f.score for f in fused}
    assert scores["y"] == pytest.approx(1 / 61) and scores["x"] == 0.0
    assert fused[2].channels == ("bm25",)
    with pytest.raises(ValueError):
        weighted_rrf({"a": ["x"]}, {"a": -1.0})


@pytest.mark.parametrize(
    ("scores", "bm25"),
    [([], 0.0), ([3.0, 1.0], 0.0), ([4.0], 0.0), ([6.0, 5.0], 1.0), ([8.0], 2.0), ([20.0], 2.0)],
)
def test_bm25_weight_follows_the_best_lexical_score(scores: list[float], bm25: float) -> None:
    weights = adaptive_weights(scores, SETTINGS)
    assert weights == {"bm25": pytest.approx(bm25), "context": 0.5}


@given(st.lists(st.floats(0, 50), max_size=8), st.floats(0, 50))
def test_a_stronger_lexical_match_never_lowers_bm25s_weight(
    scores: list[float], extra: float
) -> None:
    assert (
        adaptive_weights([*scores, extra], SETTINGS)["bm25"]
        >= adaptive_weights(scores, SETTINGS)["bm25"]
    )


def test_adaptive_settings_and_config_are_validated() -> None:
    with pytest.raises(ValueError):
        AdaptiveWeights(lexical_null=5.0, lexical_sure=4.0, lexical_weight=1.0, context_weight=1.0)
    with pytest.raises(ConfigError, match="fusion must be one of rrf, adaptive"):
        Config(retrieval=RetrievalConfig(fusion="combsum")).validate()
    with pytest.raises(ConfigError, match="adaptive fusion"):
        Config(retrieval=RetrievalConfig(lexical_weight=-1.0)).validate()


def test_fuse_uses_the_configured_fusion() -> None:
    data = {"bm25": ["x", "y"], "dense": ["y", "z"], "context": ["z", "y"]}
    plain = RetrievalConfig()
    adaptive = RetrievalConfig(fusion="adaptive", lexical_null=4.0, lexical_sure=8.0)
    assert fuse(data, [2.0, 1.0], plain) == rrf(data)
    # Weak lexical evidence: the BM25-only id falls behind every dense one.
    assert [f.id for f in fuse(data, [2.0, 1.0], adaptive)] == ["y", "z", "x"]
    # Strong lexical evidence: BM25 counts fully again.
    assert fuse(data, [9.0, 1.0], adaptive) == weighted_rrf(
        data, {"bm25": adaptive.lexical_weight, "context": adaptive.context_weight}
    )
    # No BM25 scores (scene and item search): plain RRF whatever the setting.
    assert fuse(data, None, adaptive) == rrf(data)


def test_fusion_is_chosen_from_the_environment() -> None:
    from tmem.config import config_from_env

    assert config_from_env({}).retrieval.fusion == "rrf"
    assert config_from_env({"TMEM_FUSION": "adaptive"}).retrieval.fusion == "adaptive"
    with pytest.raises(ConfigError, match="TMEM_FUSION"):
        config_from_env({"TMEM_FUSION": "combsum"})
