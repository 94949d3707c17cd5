"""A deterministic bag-of-words embedder: the fake for tests and the no-model fallback.

Each content word is hashed (blake2b, stable across processes, unlike ``hash()``) to a
signed bucket; a text's vector is the L2-normalised sum of its words' buckets. Two texts
that share no content word are orthogonal except for hash collisions, and identical texts
have cosine 1. It knows nothing of meaning: paraphrases score 0.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from tmem.errors import ConfigError
from tmem.text import HASHING_STOP_WORDS
from tmem.text import content_words as _content_words

STOP_WORDS = HASHING_STOP_WORDS
"""The stop-words dropped before hashing (:data:`tmem.text.HASHING_STOP_WORDS`)."""


class HashEmbedder:
    """Hashed bag-of-words vectors of dimension ``dim``.

    The last bucket is reserved: a text with no content word (empty, punctuation, only
    stop-words) maps to that unit vector, so cosine stays defined and is 0 against any
    text with content.

    Args:
        dim: vector dimension, at least 2.
    """

    def __init__(self, dim: int = 384) -> None:
        if dim < 2:
            raise ConfigError("the hash embedder needs dim >= 2 (one bucket is reserved)")
        self._dim = dim

    @property
    def name(self) -> str:
        return f"hash-{self._dim}"

    @property
    def dim(self) -> int:
        return self._dim

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts``; see :class:`tmem.embed.base.Embedder`."""
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = content_words(text)
            if not words:
                out[row, self._dim - 1] = 1.0
                continue
            for word in words:
                bucket, sign = word_bucket(word, self._dim)
                out[row, bucket] += sign
            norm = float(np.linalg.norm(out[row]))
            # Words can cancel exactly on colliding buckets of opposite sign.
            if norm == 0.0:
                out[row, self._dim - 1] = 1.0
            else:
                out[row] /= norm
        return out


def content_words(text: str) -> list[str]:
    """Lowercased letter/digit runs of ``text`` that are not stop-words, in order."""
    return _content_words(text, HASHING_STOP_WORDS)


@lru_cache(maxsize=65536)
def word_bucket(word: str, dim: int) -> tuple[int, float]:
    """The bucket in ``[0, dim - 1)`` and the sign (+1.0 or -1.0) of ``word``."""
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8, person=b"tmem-hash").digest()
    value = int.from_bytes(digest, "little")
    return (value >> 1) % (dim - 1), 1.0 if value & 1 else -1.0
