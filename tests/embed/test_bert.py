"""The numpy BERT forward pass, on tiny random weights (the real model is in test_minilm)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from tmem.embed.bert import BertShape, encode, erf, gelu, layer_norm, prepare_weights, softmax
from tmem.errors import EmbedderError

SHAPE = BertShape(layers=2, hidden=8, heads=2, eps=1e-12)


def _tensors(shape: BertShape, seed: int = 0) -> dict[str, npt.NDArray[np.float32]]:
    rng = np.random.default_rng(seed)
    h, inner = shape.hidden, 4 * shape.hidden

    def rand(*dims: int) -> npt.NDArray[np.float32]:
        return rng.normal(0.0, 0.5, size=dims).astype(np.float32)

    tensors = {
        "embeddings.word_embeddings.weight": rand(50, h),
        "embeddings.position_embeddings.weight": rand(16, h),
        "embeddings.token_type_embeddings.weight": rand(2, h),
        "embeddings.LayerNorm.weight": 1.0 + rand(h),
        "embeddings.LayerNorm.bias": rand(h),
    }
    for i in range(shape.layers):
        p = f"encoder.layer.{i}."
        for part in ("query", "key", "value"):
            tensors[p + f"attention.self.{part}.weight"] = rand(h, h)
            tensors[p + f"attention.self.{part}.bias"] = rand(h)
        tensors[p + "attention.output.dense.weight"] = rand(h, h)
        tensors[p + "attention.output.dense.bias"] = rand(h)
        tensors[p + "intermediate.dense.weight"] = rand(inner, h)
        tensors[p + "intermediate.dense.bias"] = rand(inner)
        tensors[p + "output.dense.weight"] = rand(h, inner)
        tensors[p + "output.dense.bias"] = rand(h)
        for norm in ("attention.output.LayerNorm", "output.LayerNorm"):
            tensors[p + norm + ".weight"] = 1.0 + rand(h)
            tensors[p + norm + ".bias"] = rand(h)
    return tensors


def test_erf_matches_the_standard_library() -> None:
    x = np.linspace(-6.0, 6.0, 20001, dtype=np.float32)
    reference = np.array([math.erf(float(v)) for v in x])

    assert float(np.max(np.abs(erf(x) - reference))) < 1e-6


def test_gelu_is_the_exact_erf_form() -> None:
    x = np.linspace(-12.0, 12.0, 4001, dtype=np.float32).reshape(1, -1)
    reference = [0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0))) for v in x[0].tolist()]

    assert np.allclose(gelu(x.copy())[0], reference, rtol=1e-6, atol=1e-6)


def test_layer_norm_and_softmax() -> None:
    x = np.array([[1.0, 2.0, 3.0, 6.0]], dtype=np.float32)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)

    normed = layer_norm(x.copy(), ones, zeros, 1e-12)
    probabilities = softmax(x.copy())

    assert float(normed.mean()) == pytest.approx(0.0, abs=1e-6)
    assert float(normed.std()) == pytest.approx(1.0, abs=1e-5)
    assert float(probabilities.sum()) == pytest.approx(1.0, abs=1e-6)
    assert np.all(np.diff(probabilities[0]) > 0)


def test_encode_gives_unit_rows_independent_of_padding() -> None:
    weights = prepare_weights(_tensors(SHAPE), SHAPE)
    ids = np.array([[1, 7, 9, 2, 0, 0], [1, 4, 5, 6, 8, 2]], dtype=np.int64)
    mask = (ids != 0).astype(np.float32)
    mask[:, 0] = 1.0

    batched = encode(weights, ids, mask)
    alone = encode(weights, ids[:1, :4], mask[:1, :4])

    assert batched.shape == (2, SHAPE.hidden)
    assert np.allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-6)
    assert np.allclose(batched[0], alone[0], atol=1e-5)


def test_a_missing_tensor_is_named() -> None:
    tensors = _tensors(SHAPE)
    del tensors["encoder.layer.1.output.dense.bias"]

    with pytest.raises(EmbedderError, match=r"encoder\.layer\.1\.output\.dense\.bias"):
        prepare_weights(tensors, SHAPE)


def test_a_tensor_of_the_wrong_shape_is_refused() -> None:
    tensors = _tensors(SHAPE)
    tensors["encoder.layer.0.attention.self.key.weight"] = np.zeros((8, 9), np.float32)

    with pytest.raises(EmbedderError, match="shape"):
        prepare_weights(tensors, SHAPE)
