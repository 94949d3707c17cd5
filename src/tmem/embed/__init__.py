"""Text embedders: local MiniLM (default), OpenAI-compatible, and a hashing fake for tests.

Importing this package is cheap: each embedder's module (and its dependencies, such as
``tokenizers`` or ``httpx``) is imported on first use of its name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from tmem.embed.base import Embedder

if TYPE_CHECKING:
    from tmem.embed.factory import build_embedder
    from tmem.embed.hashing import HashEmbedder
    from tmem.embed.minilm import MiniLMEmbedder
    from tmem.embed.openai import OpenAIEmbedder

__all__ = ["Embedder", "HashEmbedder", "MiniLMEmbedder", "OpenAIEmbedder", "build_embedder"]

_LAZY = {
    "build_embedder": "tmem.embed.factory",
    "HashEmbedder": "tmem.embed.hashing",
    "MiniLMEmbedder": "tmem.embed.minilm",
    "OpenAIEmbedder": "tmem.embed.openai",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
