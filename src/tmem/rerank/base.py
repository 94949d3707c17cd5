"""The reranking seam: score (query, document) pairs jointly, as a cross-encoder does."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Reranker(Protocol):
    @property
    def name(self) -> str: ...

    def rerank(self, query: str, documents: Sequence[str]) -> list[float]:
        """One relevance score per document, aligned with ``documents`` (larger is better)."""
        ...
