"""Reciprocal rank fusion: pure, order-independent, deterministic.

score(d) = Σ over channels c where d appears of 1 / (k + rank_c(d)), ranks from 1.
Ties break by the best single rank, then by id, so the same inputs always give the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Fused:
    """One fused result: its score and the channels (in name order) that ranked it."""

    id: str
    score: float
    channels: tuple[str, ...]
    best_rank: int


def rrf(rankings: Mapping[str, Sequence[str]], k: int = 60) -> list[Fused]:
    """Fuse ranked id lists by reciprocal rank.

    Args:
        rankings: channel name -> ids, best first. Repeats within a channel count once, at
            their best rank.
        k: the RRF constant; larger flattens the weight of top ranks.

    Returns:
        Every id that appears anywhere, best first.
    """
    if k < 0:
        raise ValueError("k must be >= 0")
    scores: dict[str, float] = {}
    channels: dict[str, list[str]] = {}
    best: dict[str, int] = {}
    for channel in sorted(rankings):
        seen: set[str] = set()
        for rank, doc in enumerate(rankings[channel], start=1):
            if doc in seen:
                continue
            seen.add(doc)
            scores[doc] = scores.get(doc, 0.0) + 1.0 / (k + rank)
            channels.setdefault(doc, []).append(channel)
            best[doc] = min(best.get(doc, rank), rank)
    fused = [Fused(doc, scores[doc], tuple(channels[doc]), best[doc]) for doc in scores]
    fused.sort(key=lambda f: (-f.score, f.best_rank, f.id))
    return fused
