"""Retrieval metrics over gold turns, all pure functions.

Ranks count turns, not memory units: :func:`expand_to_turns` flattens each hit into the turns it
rests on, so a scene of 20 turns fills 20 of the ``k`` slots and coarse units gain nothing by size.

Token counting (:func:`count_tokens`) is a regex count of word runs and single punctuation marks.
It is dependency-free and deterministic; on English chat text it lands within ~15% of a BPE
tokenizer's count, which is close enough to compare systems under the same budget.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Protocol

from tmem.porter import stem

K_VALUES: tuple[int, ...] = (1, 5, 10, 20, 50)
TOKEN_BUDGETS: tuple[int, ...] = (1000, 2000)
MRR_CUTOFF = 50

_TOKEN = re.compile(r"\w+|[^\w\s]")


class HitLike(Protocol):
    """What the metrics read from a search result (:class:`tmem.models.Hit` satisfies it)."""

    @property
    def text(self) -> str: ...

    @property
    def source_turns(self) -> tuple[str, ...]: ...


def expand_to_turns(hits: Iterable[HitLike]) -> list[str]:
    """Each hit's source turns in order, repeats dropped, hits kept in rank order."""
    seen: dict[str, None] = {}
    for hit in hits:
        for turn_id in hit.source_turns:
            seen.setdefault(turn_id, None)
    return list(seen)


def any_hit_at(gold: set[str], ranked: Sequence[str], k: int) -> float:
    """1.0 if any gold turn is among the first ``k`` ranked turns."""
    return 1.0 if gold.intersection(ranked[:k]) else 0.0


def all_hit_at(gold: set[str], ranked: Sequence[str], k: int) -> float:
    """1.0 if every gold turn is among the first ``k`` ranked turns."""
    return 1.0 if gold and gold.issubset(ranked[:k]) else 0.0


def recall_at(gold: set[str], ranked: Sequence[str], k: int) -> float:
    """The fraction of gold turns among the first ``k`` ranked turns."""
    return len(gold.intersection(ranked[:k])) / len(gold) if gold else 0.0


def reciprocal_rank(gold: set[str], ranked: Sequence[str], cutoff: int = MRR_CUTOFF) -> float:
    """1 / rank of the first gold turn, 0.0 if none is within ``cutoff``."""
    for rank, turn_id in enumerate(ranked[:cutoff], start=1):
        if turn_id in gold:
            return 1.0 / rank
    return 0.0


def count_tokens(text: str) -> int:
    """Word runs plus single punctuation marks: ``"Hi, Mel!"`` counts 4."""
    return len(_TOKEN.findall(text))


def budget_recall(gold: set[str], hits: Sequence[HitLike], budget: int) -> float:
    """Gold-turn recall of the evidence an answering model would get under a token budget.

    Hits are taken in rank order, each costing :func:`count_tokens` of its ``text``, as long as
    the running total stays within ``budget``. The first hit that does not fit whole ends the
    walk: it is not truncated, and no later (smaller) hit is taken in its place, so the kept
    evidence is always a prefix of the ranking. A gold turn counts as covered when it is among
    the ``source_turns`` of a kept hit.
    """
    if not gold:
        return 0.0
    used = 0
    covered: set[str] = set()
    for hit in hits:
        used += count_tokens(hit.text)
        if used > budget:
            break
        covered.update(gold.intersection(hit.source_turns))
    return len(covered) / len(gold)


def retrieval_scores(
    gold: Iterable[str],
    hits: Sequence[HitLike],
    ks: Sequence[int] = K_VALUES,
    budgets: Sequence[int] = TOKEN_BUDGETS,
) -> dict[str, float]:
    """Every retrieval metric for one question, keyed ``any_hit@10``, ``recall@5``, ``mrr``...

    Args:
        gold: the question's gold turn ids.
        hits: search results in rank order.
        ks: cut-offs in turns.
        budgets: token budgets for :func:`budget_recall` (keys ``recall@1000tok``).
    """
    gold_set = set(gold)
    ranked = expand_to_turns(hits)
    scores: dict[str, float] = {}
    for k in ks:
        scores[f"any_hit@{k}"] = any_hit_at(gold_set, ranked, k)
        scores[f"all_hit@{k}"] = all_hit_at(gold_set, ranked, k)
        scores[f"recall@{k}"] = recall_at(gold_set, ranked, k)
    scores["mrr"] = reciprocal_rank(gold_set, ranked)
    for budget in budgets:
        scores[f"recall@{budget}tok"] = budget_recall(gold_set, hits, budget)
    return scores


# --- answer metrics ----------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCTUATION = re.compile(r"[^\w\s]|_")
_NO_INFORMATION = ("no information available", "not mentioned")


def locomo_tokens(text: str) -> list[str]:
    """LoCoMo's answer normalisation: lowercase, drop punctuation and a/an/the/and, Porter-stem."""

    cleaned = _ARTICLES.sub(" ", _PUNCTUATION.sub("", text.lower()))
    return [stem(word) for word in cleaned.split()]


def token_f1(prediction: str, gold: str) -> float:
    """F1 over token multisets of two normalised strings; 0.0 when nothing is shared."""
    predicted, expected = locomo_tokens(prediction), locomo_tokens(gold)
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def locomo_f1(prediction: str, gold: str, category: int) -> float:
    """LoCoMo's per-category answer F1.

    Category 1 (multi-hop) splits both sides on commas and averages, over gold parts, the best
    F1 against any predicted part. Category 3 keeps the gold up to its first ``;``. Category 5
    scores 1.0 when the prediction says the fact was not mentioned. Others: plain token F1.
    """
    if category == 5:
        lowered = prediction.lower()
        return 1.0 if any(phrase in lowered for phrase in _NO_INFORMATION) else 0.0
    if category == 3:
        gold = gold.split(";")[0].strip()
    if category != 1:
        return token_f1(prediction, gold)
    predicted = [part.strip() for part in prediction.split(",")]
    expected = [part.strip() for part in gold.split(",")]
    best = [max(token_f1(p, g) for p in predicted) for g in expected]
    return sum(best) / len(best)


def bleu1(prediction: str, reference: str) -> float:
    """Sentence BLEU-1 against one reference, as Mem0 reports it.

    Tokens are :func:`count_tokens`' word runs and punctuation marks of the lowercased text (NLTK's
    word tokenizer differs on contractions such as "don't"). The score is the brevity penalty
    times the clipped unigram precision. Smoothing method 1 adds 0.1 to zero n-gram counts only
    for orders above one, and a prediction sharing no unigram scores 0.0, so for BLEU-1 the
    smoothing never changes the value.
    """
    hypothesis = _TOKEN.findall(prediction.lower())
    expected = _TOKEN.findall(reference.lower())
    if not hypothesis or not expected:
        return 0.0
    matches = sum((Counter(hypothesis) & Counter(expected)).values())
    if matches == 0:
        return 0.0
    c, r = len(hypothesis), len(expected)
    brevity = 1.0 if c > r else math.exp(1 - r / c)
    return brevity * matches / c


JUDGE_LABELS: tuple[str, ...] = ("CORRECT", "WRONG")


def parse_judge_label(reply: str) -> str | None:
    """The judge's label, parsed strictly; ``None`` when the reply does not follow the format.

    The reply must be one valid JSON object whose ``label`` is a string equal to ``CORRECT`` or
    ``WRONG`` after upper-casing and trimming. Nothing is searched for inside free text, because
    "incorrect" contains "correct".
    """
    try:
        data = json.loads(reply)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("label"), str):
        return None
    label = data["label"].strip().upper()
    return label if label in JUDGE_LABELS else None
