"""LongMemEval's retrieval metrics, as its reference evaluation code computes them.

Written from the definitions in the LongMemEval repository (github.com/xiaowu0162/LongMemEval,
``src/retrieval/eval_utils.py`` and ``run_retrieval.py``; Wu et al., ICLR 2025), all pure:

- The corpus is one document per indexed turn, named by its official id; the *correct*
  documents are the ids that contain ``answer`` (marked turns of evidence sessions).
- ``recall_any@k`` = 1 if any correct document is among the first ``k`` ranked;
  ``recall_all@k`` = 1 if every one is (1 when there is none, as Python's ``all([])``).
- ``ndcg_any@k``: binary relevance; DCG = ``rel_1 + sum_{i>=2} rel_i / log2(i)`` (the first two
  ranks weigh the same); the ideal ranking puts every correct document of the corpus first; 0
  when the corpus holds no correct document.
- Session level from a turn ranking: each id loses its last ``_<n>`` part, and ``k`` grows until
  the first ``k`` ranked turns span ``k`` distinct session ids (or the corpus runs out); the
  three metrics are then taken at that cut-off over the session ids. Unmarked turns of an
  evidence session carry ``noans`` ids, so they stand for a different "session" here: exactly
  what the reference code does.

A ranking may be shorter than the corpus (a search returns at most its limit): documents it
leaves out count as not retrieved.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from tmem.eval.longmemeval import EVIDENCE_MARK

LONGMEMEVAL_K: tuple[int, ...] = (1, 3, 5, 10, 30, 50)
"""The cut-offs the reference code records."""
LEVELS: tuple[str, ...] = ("session", "turn")
METRICS: tuple[str, ...] = ("recall_any", "recall_all", "ndcg_any")


def metric_names(ks: Sequence[int] = LONGMEMEVAL_K) -> tuple[str, ...]:
    """``session.recall_any@1``, ... in report order: level, then metric, then k."""
    return tuple(f"{level}.{m}@{k}" for level in LEVELS for m in METRICS for k in ks)


def correct_ids(corpus: Iterable[str]) -> set[str]:
    """The corpus ids that count as evidence: those containing ``answer``."""
    return {doc for doc in corpus if EVIDENCE_MARK in doc}


def dcg(relevances: Sequence[float], k: int) -> float:
    """Discounted cumulative gain of the first ``k`` relevances (first rank undiscounted)."""
    top = relevances[:k]
    if not top:
        return 0.0
    return top[0] + sum(rel / math.log2(rank) for rank, rel in enumerate(top[1:], start=2))


def ndcg_any(ranked: Sequence[str], corpus: Sequence[str], correct: set[str], k: int) -> float:
    """nDCG@k with binary relevance; the ideal ranks all of the corpus's correct ids first."""
    ideal = dcg(sorted((float(doc in correct) for doc in corpus), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg([float(doc in correct) for doc in ranked], k) / ideal


def recall_any(ranked: Sequence[str], correct: set[str], k: int) -> float:
    """1.0 if any correct id is among the first ``k`` ranked."""
    return float(bool(correct.intersection(ranked[:k])))


def recall_all(ranked: Sequence[str], correct: set[str], k: int) -> float:
    """1.0 if every correct id is among the first ``k`` ranked (1.0 when there is none)."""
    return float(correct.issubset(ranked[:k]))


def evaluate(
    ranked: Sequence[str], corpus: Sequence[str], correct: set[str], k: int
) -> dict[str, float]:
    """``recall_any``, ``recall_all`` and ``ndcg_any`` at ``k``."""
    return {
        "recall_any": recall_any(ranked, correct, k),
        "recall_all": recall_all(ranked, correct, k),
        "ndcg_any": ndcg_any(ranked, corpus, correct, k),
    }


def session_of(doc: str) -> str:
    """A turn id without its last ``_<n>`` part (``answer_x_2_7`` -> ``answer_x_2``)."""
    return "_".join(doc.split("_")[:-1])


def session_cutoff(ranked_sessions: Sequence[str], corpus_size: int, k: int) -> int:
    """The smallest cut-off >= ``k`` whose ranked turns span ``k`` distinct sessions; the search
    stops one past the corpus size when there are not that many."""
    cutoff = k
    while cutoff <= corpus_size and len(set(ranked_sessions[:cutoff])) < k:
        cutoff += 1
    return cutoff


def evaluate_sessions(ranked: Sequence[str], corpus: Sequence[str], k: int) -> dict[str, float]:
    """Session-level metrics at ``k`` from a ranking of turn ids."""
    ranked_sessions = [session_of(doc) for doc in ranked]
    corpus_sessions = [session_of(doc) for doc in corpus]
    correct = {session_of(doc) for doc in correct_ids(corpus)}
    cutoff = session_cutoff(ranked_sessions, len(corpus_sessions), k)
    return evaluate(ranked_sessions, corpus_sessions, correct, cutoff)


def retrieval_scores(
    ranked: Sequence[str], corpus: Sequence[str], ks: Sequence[int] = LONGMEMEVAL_K
) -> dict[str, float]:
    """Every official metric for one question, keyed as :func:`metric_names` orders them.

    Args:
        ranked: the official ids of the retrieved turns, best first, without repeats.
        corpus: the official id of every indexed turn.
        ks: the cut-offs.
    """
    correct = correct_ids(corpus)
    scores: dict[str, float] = {}
    for k in ks:
        for name, value in evaluate_sessions(ranked, corpus, k).items():
            scores[f"session.{name}@{k}"] = value
        for name, value in evaluate(ranked, corpus, correct, k).items():
            scores[f"turn.{name}@{k}"] = value
    return {name: scores[name] for name in metric_names(ks)}
