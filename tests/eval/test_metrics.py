from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.eval.metrics import (
    all_hit_at,
    any_hit_at,
    bleu1,
    budget_recall,
    count_tokens,
    expand_to_turns,
    locomo_f1,
    locomo_tokens,
    parse_judge_label,
    recall_at,
    reciprocal_rank,
    retrieval_scores,
    token_f1,
)
from tmem.porter import stem


@dataclass(frozen=True)
class FakeHit:
    text: str
    source_turns: tuple[str, ...]


def test_expand_to_turns_flattens_in_rank_order_without_repeats() -> None:
    hits = [FakeHit("", ("D1:3", "D1:4")), FakeHit("", ("D1:4", "D2:1")), FakeHit("", ("D1:3",))]
    assert expand_to_turns(hits) == ["D1:3", "D1:4", "D2:1"]


RANKED = ["a", "b", "g1", "c", "g2", "d"]
GOLD = {"g1", "g2", "g3"}


def test_hit_metrics_by_hand() -> None:
    assert any_hit_at(GOLD, RANKED, 2) == 0.0
    assert any_hit_at(GOLD, RANKED, 3) == 1.0
    assert all_hit_at({"g1", "g2"}, RANKED, 4) == 0.0
    assert all_hit_at({"g1", "g2"}, RANKED, 5) == 1.0
    assert all_hit_at(GOLD, RANKED, 50) == 0.0
    assert recall_at(GOLD, RANKED, 5) == pytest.approx(2 / 3)
    assert recall_at(GOLD, RANKED, 3) == pytest.approx(1 / 3)


def test_reciprocal_rank_is_cut_at_50() -> None:
    assert reciprocal_rank(GOLD, RANKED) == pytest.approx(1 / 3)
    late = [f"x{i}" for i in range(50)] + ["g1"]
    assert reciprocal_rank(GOLD, late) == 0.0
    assert reciprocal_rank(GOLD, late[-50:]) == pytest.approx(1 / 50)


def test_retrieval_scores_count_turns_not_units() -> None:
    # One scene of 12 turns ranked first pushes the gold turn (in the second hit) to rank 13.
    scene = FakeHit("scene", tuple(f"D1:{i}" for i in range(1, 13)))
    gold_hit = FakeHit("turn", ("D5:2",))
    scores = retrieval_scores({"D5:2"}, [scene, gold_hit], ks=(10, 20), budgets=())
    assert scores == {
        "any_hit@10": 0.0,
        "all_hit@10": 0.0,
        "recall@10": 0.0,
        "any_hit@20": 1.0,
        "all_hit@20": 1.0,
        "recall@20": 1.0,
        "mrr": pytest.approx(1 / 13),
    }


def test_count_tokens_counts_words_and_punctuation() -> None:
    assert count_tokens("Hi, Mel!") == 4
    assert count_tokens("  ") == 0
    assert count_tokens("it's 3:30") == 6  # it ' s 3 : 30


def test_budget_recall_stops_at_first_hit_that_does_not_fit() -> None:
    hits = [
        FakeHit("one two three", ("g1",)),  # 3 tokens, total 3
        FakeHit("four five six seven", ("x",)),  # 4 tokens, total 7
        FakeHit("a b c d e", ("g2",)),  # 5 tokens, total 12: over a budget of 10
        FakeHit("z", ("g3",)),  # would fit alone, but the walk has stopped
    ]
    gold = {"g1", "g2", "g3"}
    assert budget_recall(gold, hits, 10) == pytest.approx(1 / 3)
    assert budget_recall(gold, hits, 12) == pytest.approx(2 / 3)
    assert budget_recall(gold, hits, 13) == 1.0
    assert budget_recall(gold, hits, 2) == 0.0


@given(st.lists(st.sampled_from("abcdefg"), unique=True), st.sets(st.sampled_from("abcdefg")))
def test_metrics_are_monotone_in_k(ranked: list[str], gold: set[str]) -> None:
    previous = (0.0, 0.0, 0.0)
    for k in range(1, 9):
        current = (
            any_hit_at(gold, ranked, k),
            all_hit_at(gold, ranked, k),
            recall_at(gold, ranked, k),
        )
        assert all(c >= p for c, p in zip(current, previous, strict=True))
        previous = current


def test_porter_stems_textbook_words() -> None:
    cases = {
        "caresses": "caress",
        "ponies": "poni",
        "running": "run",
        "hopping": "hop",
        "relational": "relat",
        "happy": "happi",
        "generalization": "gener",
        "agreed": "agre",
        "hopeful": "hope",
        "adjustment": "adjust",
        "sky": "sky",
        "filing": "file",
    }
    assert {word: stem(word) for word in cases} == cases


def test_locomo_normalisation_drops_articles_punctuation_and_stems() -> None:
    assert locomo_tokens("The Cats, and a dog!") == ["cat", "dog"]


def test_token_f1_by_hand() -> None:
    # prediction tokens [went, to, pari], gold [pari]: precision 1/3, recall 1 -> F1 = 0.5
    assert token_f1("went to Paris", "Paris") == pytest.approx(0.5)
    assert token_f1("London", "Paris") == 0.0
    assert token_f1("", "Paris") == 0.0
    # multisets: "pari pari" vs "pari": precision 1/2, recall 1 -> 2/3
    assert token_f1("Paris Paris", "Paris") == pytest.approx(2 / 3)


def test_locomo_f1_category_rules() -> None:
    # Category 1: gold parts [pottery, running]; best F1 per part = 1.0 and 0.0 -> 0.5
    assert locomo_f1("pottery, chess", "pottery, running", 1) == pytest.approx(0.5)
    # Category 3: gold is cut at the first ';'
    assert locomo_f1("likely yes", "Likely yes; she likes calm things", 3) == 1.0
    assert locomo_f1("It was not mentioned.", "", 5) == 1.0
    assert locomo_f1("Yes, because it was calming", "", 5) == 0.0
    assert locomo_f1("7 May 2023", "7 May 2023", 2) == 1.0


def test_bleu1_by_hand() -> None:
    assert bleu1("the cat sat", "the cat sat") == 1.0
    # hypothesis 2 tokens, reference 4, 2 matches: precision 1, BP = exp(1 - 4/2)
    assert bleu1("the cat", "the cat sat down") == pytest.approx(math.exp(-1))
    # hypothesis longer than reference: no penalty; clipped matches 2 of 4 ("the" counted once)
    assert bleu1("the the cat sat", "the cat") == pytest.approx(0.5)
    assert bleu1("dog", "the cat") == 0.0
    assert bleu1("", "the cat") == 0.0


@pytest.mark.parametrize(
    ("reply", "label"),
    [
        ('{"reason": "same date", "label": "CORRECT"}', "CORRECT"),
        ('{"label": "wrong"}', "WRONG"),
        ('  {"label": " Correct "}\n', "CORRECT"),
        ('{"label": "INCORRECT"}', None),
        ("The answer is CORRECT", None),
        ('```json\n{"label": "CORRECT"}\n```', None),
        ('{"label": "CORRECT"} extra', None),
        ('["CORRECT"]', None),
        ('{"label": true}', None),
        ('{"verdict": "CORRECT"}', None),
        ("", None),
    ],
)
def test_judge_label_is_parsed_strictly(reply: str, label: str | None) -> None:
    assert parse_judge_label(reply) == label
