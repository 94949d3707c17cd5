from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.embed.hashing import HashEmbedder
from tmem.errors import EvalError
from tmem.eval.baselines import build_bm25, build_turn_index, full_context_tokens, rrf, tokenize


def test_tokenize_lowercases_and_drops_stop_words() -> None:
    assert tokenize("The Cat's bowl, and THE dog!") == ["cat", "bowl", "dog"]


def test_bm25_scores_by_hand() -> None:
    index = build_bm25(["cat sat", "dog sat", "cat cat"])
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))
    # all lengths equal the mean, so the length norm is k1 = 1.5
    expected = [idf * 1 * 2.5 / (1 + 1.5), 0.0, idf * 2 * 2.5 / (2 + 1.5)]
    assert index.scores("cat").tolist() == pytest.approx(expected)
    assert index.scores("cat cat the").tolist() == pytest.approx(expected)
    assert index.scores("unknown").tolist() == [0.0, 0.0, 0.0]


def test_bm25_penalises_long_documents() -> None:
    index = build_bm25(["marathon", "marathon training plan weekly schedule notes"])
    short, long = index.scores("marathon")
    assert short > long > 0


def test_rrf_by_hand() -> None:
    fused = dict(rrf([[0, 1, 2], [2, 0]], k=60))
    assert fused[0] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[1] == pytest.approx(1 / 62)
    assert [doc for doc, _ in rrf([[0, 1, 2], [2, 0]])] == [0, 2, 1]


@given(st.permutations(range(6)), st.permutations(range(6)))
def test_rrf_ignores_ranking_order(a: list[int], b: list[int]) -> None:
    assert dict(rrf([a, b])) == pytest.approx(dict(rrf([b, a])))


MESSAGES = [
    {
        "speaker": "Ada",
        "content": "I adopted a grey cat called Pixel.",
        "timestamp": "t1",
        "id": "D1:1",
    },
    {
        "speaker": "Ben",
        "content": "I am training for the city marathon.",
        "timestamp": "t2",
        "id": "D1:2",
    },
    {"speaker": "Ada", "content": "Pottery class on Tuesdays.", "timestamp": "t3", "id": "D1:3"},
]


@pytest.mark.parametrize("system", ["bm25", "dense", "hybrid"])
def test_turn_index_returns_turn_hits(system: str) -> None:
    index = build_turn_index(MESSAGES, HashEmbedder(dim=64))
    hits = index.search(system, "marathon training", limit=2)
    assert hits[0].id == "D1:2"
    assert hits[0].kind == "turn"
    assert hits[0].source_turns == ("D1:2",)
    assert hits[0].text == "Ben: I am training for the city marathon."
    assert hits[0].reached_by == (system,)
    assert len(hits) <= 2


def test_bm25_returns_only_matching_turns_and_unknown_systems_fail() -> None:
    index = build_turn_index(MESSAGES, HashEmbedder(dim=64))
    assert [h.id for h in index.search("bm25", "pottery", limit=50)] == ["D1:3"]
    with pytest.raises(EvalError):
        index.search("splade", "pottery")


def test_full_context_tokens_counts_every_line() -> None:
    # "Ada: I adopted a grey cat called Pixel." = Ada : I adopted a grey cat called Pixel . = 10
    assert full_context_tokens(MESSAGES[:1]) == 10


def test_bm25_only_index_embeds_nothing_and_refuses_dense() -> None:
    index = build_turn_index(MESSAGES, HashEmbedder(dim=64), dense=False)
    assert index.vectors is None
    assert index.search("bm25", "pottery")[0].id == "D1:3"
    with pytest.raises(EvalError):
        index.search("dense", "pottery")
