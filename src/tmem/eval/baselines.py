"""Raw-turn baselines: BM25, dense cosine and their RRF fusion over the same messages.

Every baseline indexes one document per turn, ``"speaker: content"``, and returns
:class:`tmem.models.Hit` objects of kind ``turn`` whose ``source_turns`` is the turn id, so the
metrics treat them exactly like tmem's LLM-free results.

BM25 is Okapi BM25 (k1 = 1.5, b = 0.75) with the Lucene-style idf ``ln(1 + (N - n + 0.5) /
(n + 0.5))``, which stays positive for common terms. Tokens are lowercase ``[a-z0-9]+`` runs
minus :data:`tmem.text.BASELINE_STOP_WORDS`, without stemming (:data:`tmem.text.ASCII_WORD`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tmem import spaces
from tmem.embed.base import Embedder
from tmem.errors import EvalError
from tmem.eval.locomo import Message
from tmem.models import Hit
from tmem.text import ASCII_WORD, BASELINE_STOP_WORDS, content_words

BASELINES: tuple[str, ...] = (spaces.BM25, spaces.DENSE, spaces.HYBRID)
RRF_K = 60
BM25_K1 = 1.5
BM25_B = 0.75


def tokenize(text: str) -> list[str]:
    """Lowercase alphanumeric runs without stop-words."""
    return content_words(text, BASELINE_STOP_WORDS, ASCII_WORD)


@dataclass(frozen=True)
class BM25:
    """A BM25 index over tokenized documents; build it with :func:`build_bm25`."""

    term_freqs: tuple[Counter[str], ...]
    lengths: npt.NDArray[np.float64]
    idf: dict[str, float]
    k1: float = BM25_K1
    b: float = BM25_B

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        """One score per document; repeated query terms count once."""
        result = np.zeros(len(self.term_freqs))
        if not self.term_freqs:
            return result
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.lengths.mean(), 1e-9))
        for term in set(tokenize(query)):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([freqs.get(term, 0) for freqs in self.term_freqs], dtype=np.float64)
            result += idf * tf * (self.k1 + 1) / (tf + norm)
        return result


def build_bm25(documents: Sequence[str], k1: float = BM25_K1, b: float = BM25_B) -> BM25:
    """Index ``documents`` for BM25 Okapi."""
    freqs = tuple(Counter(tokenize(doc)) for doc in documents)
    n = len(freqs)
    document_freq: Counter[str] = Counter()
    for counts in freqs:
        document_freq.update(counts.keys())
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t, df in document_freq.items()}
    lengths = np.array([sum(c.values()) for c in freqs], dtype=np.float64)
    return BM25(term_freqs=freqs, lengths=lengths, idf=idf, k1=k1, b=b)


def rrf(rankings: Sequence[Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal-rank fusion of rankings of document positions, best first.

    Each document scores ``sum(1 / (k + rank))`` over the rankings it appears in (rank from 1);
    ties keep the order of first appearance.
    """
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, doc in enumerate(ranking, start=1):
            fused[doc] = fused.get(doc, 0.0) + 1.0 / (k + rank)
    return sorted(fused.items(), key=lambda pair: -pair[1])


def _top(scores: npt.NDArray[np.float64], limit: int) -> list[int]:
    # A stable sort on the negated scores keeps earlier turns first on ties.
    order = np.argsort(-scores, kind="stable")[:limit]
    return [int(i) for i in order]


@dataclass(frozen=True)
class TurnIndex:
    """The raw turns of one conversation indexed for the three baselines."""

    messages: tuple[Message, ...]
    bm25: BM25
    vectors: npt.NDArray[np.float32] | None
    embedder: Embedder

    def search(self, system: str, query: str, limit: int = 50) -> list[Hit]:
        """Run baseline ``system`` (one of :data:`BASELINES`)."""
        if system == spaces.BM25:
            return self._hits(self._bm25_ranking(query, limit), spaces.BM25)
        if system == spaces.DENSE:
            return self._hits(self._dense_ranking(query, limit), spaces.DENSE)
        if system == spaces.HYBRID:
            return self._hybrid(query, limit)
        raise EvalError(f"unknown baseline {system!r}; choose from {', '.join(BASELINES)}")

    def _bm25_ranking(self, query: str, limit: int) -> list[tuple[int, float]]:
        scores = self.bm25.scores(query)
        return [(i, float(scores[i])) for i in _top(scores, limit) if scores[i] > 0]

    def _dense_ranking(self, query: str, limit: int) -> list[tuple[int, float]]:
        if self.vectors is None:
            raise EvalError("this index was built without vectors (BM25 only)")
        if not self.messages:
            return []
        scores = (self.vectors @ self.embedder.embed([query])[0]).astype(np.float64)
        return [(i, float(scores[i])) for i in _top(scores, limit)]

    def _hybrid(self, query: str, limit: int) -> list[Hit]:
        lexical = [i for i, _ in self._bm25_ranking(query, limit)]
        dense = [i for i, _ in self._dense_ranking(query, limit)]
        return self._hits(rrf([lexical, dense])[:limit], spaces.HYBRID)

    def _hits(self, ranking: Sequence[tuple[int, float]], route: str) -> list[Hit]:
        return [turn_hit(self.messages[i], score, route) for i, score in ranking]


def turn_hit(message: Message, score: float, route: str) -> Hit:
    """A message as a turn hit with text ``speaker: content``."""
    return Hit(
        id=message["id"],
        kind="turn",
        text=f"{message['speaker']}: {message['content']}",
        score=score,
        timestamp=message.get("timestamp"),
        source_turns=(message["id"],),
        reached_by=(route,),
    )


def build_turn_index(
    messages: Sequence[Message],
    embedder: Embedder,
    vectors: npt.NDArray[np.float32] | None = None,
    *,
    dense: bool = True,
) -> TurnIndex:
    """Index ``messages`` for the baselines.

    Args:
        messages: the turns, one document each.
        embedder: embeds queries (and the turns unless ``vectors`` is given).
        vectors: precomputed turn vectors, one row per message.
        dense: False builds a BM25-only index and embeds nothing.
    """
    texts = turn_texts(messages)
    if dense and vectors is None:
        vectors = embed_texts(embedder, texts)
    return TurnIndex(tuple(messages), build_bm25(texts), vectors if dense else None, embedder)


def turn_texts(messages: Sequence[Message]) -> list[str]:
    """``speaker: content`` per message, the text every baseline indexes."""
    return [f"{m['speaker']}: {m['content']}" for m in messages]


def embed_texts(embedder: Embedder, texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """Embed ``texts``; an empty list gives a ``(0, dim)`` array."""
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.asarray(embedder.embed(list(texts)), dtype=np.float32)


def full_context_tokens(messages: Sequence[Message]) -> int:
    """Tokens of the whole conversation, one ``speaker: content`` line per turn."""
    from tmem.eval.metrics import count_tokens

    return sum(count_tokens(f"{m['speaker']}: {m['content']}") for m in messages)
