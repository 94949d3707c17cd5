"""LongMemEval's retrieval metrics against values worked out by hand from the definitions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.eval.longmemeval_metrics import (
    LONGMEMEVAL_K,
    correct_ids,
    dcg,
    evaluate,
    evaluate_sessions,
    metric_names,
    ndcg_any,
    retrieval_scores,
    session_cutoff,
    session_of,
)

# Turn level: two correct turns in one evidence session, one renamed turn, two fillers.
TURNS = ("f_1", "answer_s_1", "noans_s_3", "answer_s_5", "g_1")
RANKED = ("f_1", "answer_s_5", "g_1", "answer_s_1")


def test_dcg_leaves_the_first_two_ranks_undiscounted() -> None:
    assert dcg([1.0, 0.0, 1.0], 3) == pytest.approx(1 + 1 / math.log2(3))
    assert dcg([0.0, 1.0], 2) == 1.0
    assert dcg([1.0, 1.0, 1.0], 2) == 2.0
    assert dcg([], 5) == 0.0


@pytest.mark.parametrize(
    ("k", "any_", "all_", "ndcg"),
    [
        (1, 0.0, 0.0, 0.0),  # only the filler is in
        (2, 1.0, 0.0, 1 / 2),  # [0, 1] -> 1; ideal [1, 1] -> 2
        (3, 1.0, 0.0, 1 / 2),  # [0, 1, 0] -> 1
        (4, 1.0, 1.0, 1.5 / 2),  # [0, 1, 0, 1] -> 1 + 1/log2(4)
    ],
)
def test_turn_level_by_hand(k: int, any_: float, all_: float, ndcg: float) -> None:
    correct = correct_ids(TURNS)
    assert correct == {"answer_s_1", "answer_s_5"}  # the noans turn never counts
    assert evaluate(RANKED, TURNS, correct, k) == {
        "recall_any": any_,
        "recall_all": all_,
        "ndcg_any": pytest.approx(ndcg),
    }


# Session level from a turn ranking: sessions f (two turns), s (evidence: two marked turns and
# one unmarked, renamed noans_s), g and t (evidence: one marked turn).
CORPUS = ("f_1", "f_2", "answer_s_1", "noans_s_2", "answer_s_3", "g_1", "answer_t_2")
RANKING = ("f_1", "f_2", "noans_s_2", "answer_s_3", "g_1", "answer_t_2")
IDEAL = 1 + 1 + 1 / math.log2(3)  # three relevant turn positions in the corpus


@pytest.mark.parametrize(
    ("k", "cutoff", "any_", "all_", "ndcg"),
    [
        (1, 1, 0.0, 0.0, 0.0),
        (6, 8, 1.0, 1.0, (1 / math.log2(4) + 1 / math.log2(6)) / IDEAL),  # runs out at 7 + 1
        (2, 3, 0.0, 0.0, 0.0),  # f, f, noans_s: noans_s is a "session" of its own
        (3, 4, 1.0, 0.0, (1 / math.log2(4)) / IDEAL),
        (4, 5, 1.0, 0.0, (1 / math.log2(4)) / IDEAL),
        (5, 6, 1.0, 1.0, (1 / math.log2(4) + 1 / math.log2(6)) / IDEAL),
        (10, 10, 1.0, 1.0, (1 / math.log2(4) + 1 / math.log2(6)) / IDEAL),  # k > corpus
    ],
)
def test_session_level_grows_k_until_k_sessions_by_hand(
    k: int, cutoff: int, any_: float, all_: float, ndcg: float
) -> None:
    sessions = [session_of(doc) for doc in RANKING]
    assert session_cutoff(sessions, len(CORPUS), k) == cutoff
    assert evaluate_sessions(RANKING, CORPUS, k) == {
        "recall_any": any_,
        "recall_all": all_,
        "ndcg_any": pytest.approx(ndcg),
    }


def test_a_question_without_correct_turns_scores_like_the_reference() -> None:
    corpus = ("f_1", "noans_s_1")
    scores = retrieval_scores(["noans_s_1", "f_1"], corpus)
    for k in LONGMEMEVAL_K:
        for level in ("session", "turn"):
            assert scores[f"{level}.recall_any@{k}"] == 0.0
            assert scores[f"{level}.recall_all@{k}"] == 1.0  # all() of nothing
            assert scores[f"{level}.ndcg_any@{k}"] == 0.0


def test_unranked_documents_count_as_not_retrieved() -> None:
    scores = retrieval_scores([], CORPUS)
    assert scores["turn.recall_any@50"] == 0.0 and scores["session.ndcg_any@50"] == 0.0


def test_session_of_drops_the_last_part_only() -> None:
    assert session_of("answer_4be1b6b4_2_7") == "answer_4be1b6b4_2"
    assert session_of("plain") == ""


def test_scores_carry_every_name_in_report_order() -> None:
    scores = retrieval_scores(list(RANKING), CORPUS)
    assert tuple(scores) == metric_names()
    assert len(scores) == 2 * 3 * len(LONGMEMEVAL_K)


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_a_perfect_ranking_scores_one(relevant: list[bool]) -> None:
    corpus = [f"{'answer' if r else 'other'}_{i}_1" for i, r in enumerate(relevant)]
    ranked = sorted(corpus, key=lambda doc: "answer" not in doc)
    scores = retrieval_scores(ranked, corpus)
    gold = sum(relevant)
    for k in LONGMEMEVAL_K:
        for level in ("session", "turn"):
            assert scores[f"{level}.ndcg_any@{k}"] == (1.0 if gold else 0.0)
            assert scores[f"{level}.recall_any@{k}"] == float(gold > 0)
            if k >= gold:
                assert scores[f"{level}.recall_all@{k}"] == 1.0


def test_ndcg_is_one_for_the_ideal_and_below_for_any_other_order() -> None:
    correct = correct_ids(TURNS)
    ideal = ("answer_s_1", "answer_s_5", "f_1", "g_1", "noans_s_3")
    assert ndcg_any(ideal, TURNS, correct, 5) == 1.0
    assert ndcg_any(RANKED, TURNS, correct, 5) < 1.0


@given(
    st.lists(st.sampled_from(["answer", "noans", "other"]), min_size=1, max_size=25),
    st.lists(st.integers(min_value=0, max_value=24), unique=True, max_size=25),
)
def test_metrics_are_bounded_and_recall_grows_with_k(kinds: list[str], order: list[int]) -> None:
    corpus = [f"{kind}_{i % 4}_{i}" for i, kind in enumerate(kinds)]
    ranked = [corpus[i] for i in order if i < len(corpus)]
    scores = retrieval_scores(ranked, corpus)
    assert all(0.0 <= value <= 1.0 + 1e-12 for value in scores.values())
    has_gold = bool(correct_ids(corpus))
    for level in ("session", "turn"):
        for name in ("recall_any", "recall_all"):
            values = [scores[f"{level}.{name}@{k}"] for k in LONGMEMEVAL_K]
            assert values == sorted(values)
        for k in LONGMEMEVAL_K:
            if has_gold:
                assert scores[f"{level}.recall_all@{k}"] <= scores[f"{level}.recall_any@{k}"]
