"""Embedders for the speed benchmark: random unit vectors, and one that embeds queries for real.

``--vectors random`` times the index alone: stored vectors are seeded random directions, cheap
to make, while the query side can still pay the real model's cost (``query_model``) so the
search latency includes a genuine query embedding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from tmem.embed.base import Embedder
from tmem.eval.speed.generate import DIM, text_seed


def random_vector(text: str, dim: int = DIM) -> npt.NDArray[np.float32]:
    """A unit vector drawn from a generator seeded by ``text``: same text, same vector."""
    vector = np.random.default_rng(text_seed(text)).standard_normal(dim, dtype=np.float32)
    vector /= np.linalg.norm(vector)
    return vector


class RandomEmbedder:
    """Seeded random unit vectors; with ``query_model``, single-text calls embed for real.

    The write path embeds turns in batches and the read path embeds one query at a time, so
    a one-text call is taken as a query. Its vector comes from ``query_model`` (whose cost is
    what the benchmark wants to see) when one is given.
    """

    def __init__(self, dim: int = DIM, query_model: Embedder | None = None) -> None:
        if query_model is not None and query_model.dim != dim:
            raise ValueError("the query model's dimension differs from the stored vectors'")
        self._dim = dim
        self._query_model = query_model

    @property
    def name(self) -> str:
        return f"bench-random@{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        if len(texts) == 1 and self._query_model is not None:
            return self._query_model.embed(texts)
        out = np.empty((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = random_vector(text, self._dim)
        return out


class RecordingEmbedder:
    """Wraps an embedder and keeps every vector it returned, by text (for the peer's copy)."""

    def __init__(self, inner: Embedder) -> None:
        self._inner = inner
        self.vectors: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        out = self._inner.embed(texts)
        for text, vector in zip(texts, out, strict=True):
            self.vectors[text] = vector
        return out
