"""Rank fusion: pure, order-independent, deterministic.

Reciprocal rank fusion (RRF): score(d) = Σ over channels c where d appears of
w_c / (k + rank_c(d)), ranks from 1, with every weight w_c = 1 unless the adaptive fusion sets
them per query. Ties break by the best single rank, then by id, so the same inputs always give
the same order.

The adaptive fusion (``RetrievalConfig.fusion = "adaptive"``) reads the query's lexical
evidence before fusing: BM25 over a user's turns scores the best turn by the IDF mass of the
query words it holds, so a weak top score means the query shares only common or incidental
words with this user's memory, and the BM25 list then says little about what the query needs.
BM25's weight is 0 up to ``lexical_null`` (the strength incidental overlap reaches), rises
linearly to ``lexical_weight`` at ``lexical_sure`` and stays there. The ``context`` channel is
weighted by ``context_weight``; every other channel keeps weight 1. A channel with weight 0
still contributes its ids (after every weighted one), so nothing found only there is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tmem.config import AdaptiveWeights, RetrievalConfig


@dataclass(frozen=True)
class Fused:
    """One fused result: its score and the channels (in name order) that ranked it."""

    id: str
    score: float
    channels: tuple[str, ...]
    best_rank: int


def rrf(rankings: Mapping[str, Sequence[str]], k: int = 60) -> list[Fused]:
    """Fuse ranked id lists by reciprocal rank, every channel weighted 1.

    Args:
        rankings: channel name -> ids, best first. Repeats within a channel count once, at
            their best rank.
        k: the RRF constant; larger flattens the weight of top ranks.

    Returns:
        Every id that appears anywhere, best first.
    """
    return weighted_rrf(rankings, {}, k)


def weighted_rrf(
    rankings: Mapping[str, Sequence[str]], weights: Mapping[str, float], k: int = 60
) -> list[Fused]:
    """:func:`rrf` with channel ``c``'s terms multiplied by ``weights.get(c, 1.0)``."""
    if k < 0:
        raise ValueError("k must be >= 0")
    if any(w < 0 for w in weights.values()):
        raise ValueError("weights must be >= 0")
    scores: dict[str, float] = {}
    channels: dict[str, list[str]] = {}
    best: dict[str, int] = {}
    for channel in sorted(rankings):
        weight = weights.get(channel, 1.0)
        seen: set[str] = set()
        for rank, doc in enumerate(rankings[channel], start=1):
            if doc in seen:
                continue
            seen.add(doc)
            scores[doc] = scores.get(doc, 0.0) + weight / (k + rank)
            channels.setdefault(doc, []).append(channel)
            best[doc] = min(best.get(doc, rank), rank)
    fused = [Fused(doc, scores[doc], tuple(channels[doc]), best[doc]) for doc in scores]
    fused.sort(key=lambda f: (-f.score, f.best_rank, f.id))
    return fused


def lexical_strength(bm25_scores: Sequence[float]) -> float:
    """The best BM25 score of the query (0 when nothing matched)."""
    return max(bm25_scores, default=0.0)


def adaptive_weights(bm25_scores: Sequence[float], settings: AdaptiveWeights) -> dict[str, float]:
    """Per-query channel weights from the strength of the query's lexical evidence."""
    strength = lexical_strength(bm25_scores)
    if strength <= settings.lexical_null:
        share = 0.0
    elif strength >= settings.lexical_sure:
        share = 1.0
    else:
        share = (strength - settings.lexical_null) / (settings.lexical_sure - settings.lexical_null)
    return {"bm25": share * settings.lexical_weight, "context": settings.context_weight}


def channel_weights(
    bm25_scores: Sequence[float] | None, config: RetrievalConfig
) -> dict[str, float]:
    """The configured fusion's weights (a channel not named has weight 1). Adaptive weights
    need the BM25 scores of a turn search; without them (scenes and items, or no lexical
    channel) every channel keeps weight 1."""
    if config.fusion != "adaptive" or bm25_scores is None:
        return {}
    settings = AdaptiveWeights(
        config.lexical_null, config.lexical_sure, config.lexical_weight, config.context_weight
    )
    return adaptive_weights(bm25_scores, settings)


def fuse(
    rankings: Mapping[str, Sequence[str]],
    bm25_scores: Sequence[float] | None,
    config: RetrievalConfig,
) -> list[Fused]:
    """The configured fusion, weighted by :func:`channel_weights`."""
    return weighted_rrf(rankings, channel_weights(bm25_scores, config), config.rrf_k)
