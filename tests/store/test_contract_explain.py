"""Search explains itself, and ``min_similarity`` cuts by cosine, on every store backend.

Each hit's ``explain`` is checked against what the store itself answers for the same query:
the channel's own ranking (``search_vectors``, ``search_text``), its raw scores, the cosine the
embedder gives the memory's text, and the reciprocal-rank terms the fused score is made of.
Full mode derives through the real HTTP LLM client against the fake OpenAI-compatible server
with the hand-authored replies of ``tests/test_full_mode.py``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_full_mode import (
    ALLERGY_TURNS,
    CELLO_TURNS,
    HORIZON,
    QUERIES,
    extract_reply,
    segment_reply,
)
from tmem import Config, EmbedderConfig, LLMConfig, Memory
from tmem.errors import InputError
from tmem.models import Hit
from tmem.store.base import Store

HASH = EmbedderConfig(kind="hash")
TURNS = [
    {"id": "t1", "speaker": "Ana", "content": "My colleague Ben is allergic to shellfish.",
     "timestamp": "2024-03-01T10:00:00Z"},
    {"id": "t2", "speaker": "Leo", "content": "Ben said the shellfish allergy is severe.",
     "timestamp": "2024-03-01T10:01:00Z"},
    {"id": "t3", "speaker": "Ana", "content": "The cello teacher praised my bowing.",
     "timestamp": "2024-03-01T10:02:00Z"},
    {"id": "t4", "speaker": "Leo", "content": "Drinking tea helps.",
     "timestamp": "2024-03-01T10:03:00Z"},
]  # fmt: skip
RRF_K = Config().retrieval.rrf_k


@pytest.fixture
def free(store: Store) -> Iterator[Memory]:
    mem = Memory.open(config=Config(embedder=HASH), store=store)
    mem.add(TURNS, user_id="ana", session_id="s1")
    yield mem


@pytest.fixture
def llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        yield fake


@pytest.fixture
def full(store: Store, llm: FakeOpenAIServer) -> Iterator[Memory]:
    config = Config(llm=LLMConfig(base_url=llm.base_url, model="fake-model"), embedder=HASH)
    mem = Memory.open(config=config, store=store)
    assert mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1").ok
    assert mem.add(CELLO_TURNS, user_id="maya", session_id="s2").ok
    yield mem


def cosine(mem: Memory, a: str, b: str) -> float:
    va, vb = mem.embedder.embed([a, b])
    return float(np.dot(va, vb))


def test_each_channel_reports_its_own_rank_raw_score_and_rrf_term(free: Memory) -> None:
    query = "Is Ben allergic to shellfish?"
    hits = free.search(query, "ana")
    assert hits and hits[0].id == "t1"
    vector = free.embedder.embed([query])[0]
    dense = [s for s in free.store.search_vectors("ana", "turn", vector, 50) if s.score > 0]
    bm25 = free.store.search_text("ana", "turn", query, 50)
    texts = {t.id: t.text for t in free.list("ana", "turn")}
    for hit in hits:
        assert {e.channel for e in hit.explain} == set(hit.reached_by)
        assert [e.rank for e in hit.explain] == sorted(e.rank for e in hit.explain)
        for evidence in hit.explain:
            assert evidence.triggers == ()
            assert evidence.contribution == 1 / (RRF_K + evidence.rank)
            if evidence.channel == "dense":
                assert dense[evidence.rank - 1].id == hit.id
                assert evidence.score == dense[evidence.rank - 1].score
                assert evidence.score == pytest.approx(cosine(free, query, texts[hit.id]), 1e-5)
            if evidence.channel == "bm25":
                assert bm25[evidence.rank - 1].id == hit.id
                assert evidence.score == bm25[evidence.rank - 1].score > 0
        # LLM-free mode: the fused score is exactly the channels' terms added up.
        assert hit.score == pytest.approx(sum(e.contribution for e in hit.explain), rel=1e-12)
    top = hits[0].explain
    assert {e.channel for e in top} == {"dense", "bm25", "context"}
    assert all(e.rank == 1 for e in top if e.channel in ("dense", "bm25"))


def test_min_similarity_keeps_what_an_embedding_channel_scored_that_high(free: Memory) -> None:
    query = "shellfish allergy severe"
    everything = free.search(query, "ana")
    best = {
        h.id: max((e.score for e in h.explain if e.channel != "bm25"), default=-1.0)
        for h in everything
    }
    assert len(set(best.values())) == len(best) > 2, best
    for cut in sorted(v for v in best.values() if v > 0):
        # The cut drops candidates before anything is ranked: what stays keeps its scores.
        expected = [h for h in everything if best[h.id] >= cut]
        assert free.search(query, "ana", min_similarity=cut) == expected
    assert free.search(query, "ana", min_similarity=1.0) == []


def test_bm25_alone_never_passes_a_similarity_cut(free: Memory) -> None:
    # "drinks" stems like "Drinking" for BM25; the bag-of-words embedder sees no shared word.
    (hit,) = free.search("drinks", "ana")
    assert hit.id == "t4" and hit.reached_by == ("bm25",)
    assert free.search("drinks", "ana", min_similarity=0.0) == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, math.inf, "0.3", True])
def test_a_bad_min_similarity_is_a_clear_input_error(free: Memory, bad: object) -> None:
    with pytest.raises(InputError, match="min_similarity must be a number from 0 to 1"):
        free.search("shellfish", "ana", min_similarity=bad)  # type: ignore[arg-type]


def horizon_hit(mem: Memory) -> Hit:
    query, label = QUERIES["horizon"]
    (hit,) = [h for h in mem.search(query, "maya") if "a1" in h.source_turns]
    assert hit.kind == "scene" and hit.reached_by == (label,)
    return hit


def test_a_hit_only_a_horizon_trigger_reached_shows_the_trigger_and_its_cosine(
    full: Memory,
) -> None:
    hit = horizon_hit(full)
    (evidence,) = hit.explain
    assert (evidence.channel, evidence.rank) == ("horizon", 1)
    (match,) = evidence.triggers
    (stored,) = [t for t in full.store.triggers_of("maya", hit.id) if t.family == "horizon"]
    assert (match.id, match.label, match.text) == (stored.id, "horizon:GOAL_ARC", HORIZON)
    assert match.cosine == pytest.approx(cosine(full, QUERIES["horizon"][0], HORIZON), 1e-5)
    assert match.confidence == pytest.approx(0.8)
    assert evidence.score == pytest.approx(match.cosine * match.confidence)
    assert evidence.contribution == 1 / (RRF_K + 1)
    # The cut reads the trigger's cosine, not cosine x confidence.
    assert horizon_hit_ids(full, match.cosine - 1e-6) == [hit.id]
    assert horizon_hit_ids(full, match.cosine + 1e-6) == []


def horizon_hit_ids(mem: Memory, cut: float) -> list[str]:
    hits = mem.search(QUERIES["horizon"][0], "maya", min_similarity=cut)
    return [h.id for h in hits if "a1" in h.source_turns]


@pytest.mark.parametrize("family", ["entity", "bridge", "scene"])
def test_every_trigger_family_names_the_trigger_that_matched(full: Memory, family: str) -> None:
    query, label = QUERIES[family]
    hits = [h for h in full.search(query, "maya") if "a1" in h.source_turns]
    evidence = [e for h in hits for e in h.explain if e.channel == family]
    assert evidence, [(h.id, h.reached_by) for h in hits]
    for found in evidence:
        assert found.triggers and all(t.label == label for t in found.triggers)
        best = found.triggers[0]
        assert found.score == pytest.approx(best.cosine * best.confidence)
        assert best.cosine == pytest.approx(cosine(full, query, best.text), 1e-5)


def test_full_mode_scores_are_merged_ranks_and_terms_sum_within_a_kind(full: Memory) -> None:
    hits = full.search("Priya epinephrine pen shellfish", "maya")
    assert len(hits) >= 2
    for rank, hit in enumerate(hits, start=1):
        assert hit.score == 1 / (RRF_K + rank)
        assert hit.explain and {e.channel for e in hit.explain} <= {
            "dense", "context", "bm25", "dialogue", "scene", "horizon", "entity", "bridge"
        }  # fmt: skip
        assert all(e.contribution == 1 / (RRF_K + e.rank) for e in hit.explain)
