"""Text embedders: local MiniLM (default), OpenAI-compatible, and a hashing fake for tests."""

from tmem.embed.base import Embedder

__all__ = ["Embedder"]
