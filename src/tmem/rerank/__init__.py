"""Optional cross-encoder reranking of fused candidates."""

from tmem.rerank.base import Reranker

__all__ = ["Reranker"]
