"""A BERT encoder forward pass in numpy: the inference half of all-MiniLM-L6-v2.

Pure functions over arrays, no I/O. Weights arrive as the ``name -> array`` mapping that
``safetensors.numpy.load_file`` returns and are rearranged once by :func:`prepare_weights`
(transposed, query/key/value fused, attention scale folded into the query) so each layer
runs a handful of large 2-D GEMMs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tmem.errors import EmbedderError

F32 = npt.NDArray[np.float32]

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution near 1, so the
# erf-based GELU matches the reference model without scipy.
_ERF_P = 0.3275911
_ERF_A = (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
_MASKED = np.float32(-1e9)


@dataclass(frozen=True)
class BertShape:
    """Architecture constants of the encoder."""

    layers: int = 6
    hidden: int = 384
    heads: int = 12
    eps: float = 1e-12


@dataclass(frozen=True)
class LayerWeights:
    """One transformer layer, matrices stored as ``(in, out)`` for ``x @ w``."""

    qkv_w: F32
    qkv_b: F32
    out_w: F32
    out_b: F32
    attn_norm_g: F32
    attn_norm_b: F32
    up_w: F32
    up_b: F32
    down_w: F32
    down_b: F32
    out_norm_g: F32
    out_norm_b: F32


@dataclass(frozen=True)
class BertWeights:
    """Every array the forward pass needs, already in the layout it wants."""

    shape: BertShape
    word: F32
    position: F32
    token_type: F32
    norm_g: F32
    norm_b: F32
    layers: tuple[LayerWeights, ...]


def prepare_weights(
    tensors: Mapping[str, npt.NDArray[np.generic]], shape: BertShape
) -> BertWeights:
    """Rearrange raw checkpoint tensors into :class:`BertWeights`.

    Raises:
        EmbedderError: a tensor is missing or has the wrong shape.
    """
    prefix = "embeddings."
    return BertWeights(
        shape=shape,
        word=_take(tensors, prefix + "word_embeddings.weight", (-1, shape.hidden)),
        position=_take(tensors, prefix + "position_embeddings.weight", (-1, shape.hidden)),
        token_type=_take(tensors, prefix + "token_type_embeddings.weight", (-1, shape.hidden))[0],
        norm_g=_take(tensors, prefix + "LayerNorm.weight", (shape.hidden,)),
        norm_b=_take(tensors, prefix + "LayerNorm.bias", (shape.hidden,)),
        layers=tuple(_prepare_layer(tensors, i, shape) for i in range(shape.layers)),
    )


def _prepare_layer(
    tensors: Mapping[str, npt.NDArray[np.generic]], index: int, shape: BertShape
) -> LayerWeights:
    p = f"encoder.layer.{index}."
    h = shape.hidden
    # Folding 1/sqrt(head_dim) into the query projection saves a pass over the scores.
    scale = np.float32(1.0 / math.sqrt(h // shape.heads))
    q_w = _take(tensors, p + "attention.self.query.weight", (h, h)) * scale
    q_b = _take(tensors, p + "attention.self.query.bias", (h,)) * scale
    k_w = _take(tensors, p + "attention.self.key.weight", (h, h))
    k_b = _take(tensors, p + "attention.self.key.bias", (h,))
    v_w = _take(tensors, p + "attention.self.value.weight", (h, h))
    v_b = _take(tensors, p + "attention.self.value.bias", (h,))
    return LayerWeights(
        qkv_w=_transpose(np.concatenate([q_w, k_w, v_w], axis=0)),
        qkv_b=np.concatenate([q_b, k_b, v_b]),
        out_w=_transpose(_take(tensors, p + "attention.output.dense.weight", (h, h))),
        out_b=_take(tensors, p + "attention.output.dense.bias", (h,)),
        attn_norm_g=_take(tensors, p + "attention.output.LayerNorm.weight", (h,)),
        attn_norm_b=_take(tensors, p + "attention.output.LayerNorm.bias", (h,)),
        up_w=_transpose(_take(tensors, p + "intermediate.dense.weight", (-1, h))),
        up_b=_take(tensors, p + "intermediate.dense.bias", (-1,)),
        down_w=_transpose(_take(tensors, p + "output.dense.weight", (h, -1))),
        down_b=_take(tensors, p + "output.dense.bias", (h,)),
        out_norm_g=_take(tensors, p + "output.LayerNorm.weight", (h,)),
        out_norm_b=_take(tensors, p + "output.LayerNorm.bias", (h,)),
    )


def _take(
    tensors: Mapping[str, npt.NDArray[np.generic]], name: str, expected: tuple[int, ...]
) -> F32:
    array = tensors.get(name)
    if array is None:
        raise EmbedderError(f"the weights file has no tensor {name!r}")
    fits = array.ndim == len(expected) and all(
        want in (-1, got) for want, got in zip(expected, array.shape, strict=True)
    )
    if not fits:
        raise EmbedderError(f"tensor {name!r} has shape {array.shape}, expected {expected}")
    return np.asarray(array, dtype=np.float32)


def _transpose(matrix: F32) -> F32:
    return np.ascontiguousarray(matrix.T)


def erf(x: F32) -> F32:
    """The error function, elementwise, to within 1.5e-7 (Abramowitz & Stegun 7.1.26)."""
    one_minus = np.float32(1.0) - _erfc_nonnegative(np.abs(x), 1.0)
    return np.asarray(np.copysign(one_minus, x), dtype=np.float32)


def gelu(x: F32) -> F32:
    """Exact (erf-based) GELU, as BERT's ``hidden_act="gelu"`` defines it; overwrites ``x``.

    Uses ``x * Phi(x) = max(x, 0) - |x| * erfc(|x| / sqrt 2) / 2``, which needs no sign
    select. Works in place with two temporaries: on chat-sized batches this activation
    costs as much as a GEMM, and every fresh large array costs page faults.
    """
    magnitude = np.abs(x)
    tail = _erfc_nonnegative(magnitude, 1.0 / math.sqrt(2.0))
    tail *= magnitude
    tail *= np.float32(0.5)
    np.maximum(x, np.float32(0.0), out=x)
    x -= tail
    return x


def _erfc_nonnegative(a: F32, scale: float) -> F32:
    """``erfc(scale * a)`` for ``a >= 0`` (A&S 7.1.26) as a new array; ``a`` is kept."""
    t = a * np.float32(_ERF_P * scale)
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    # Horner's rule for t * (a1 + t * (a2 + t * (a3 + t * (a4 + t * a5)))).
    poly = t * np.float32(_ERF_A[-1])
    for coefficient in reversed(_ERF_A[:-1]):
        poly += np.float32(coefficient)
        poly *= t
    decay = np.square(a, out=t)  # t is spent; reuse its buffer for exp(-(scale * a)^2)
    decay *= np.float32(-scale * scale)
    np.exp(decay, out=decay)
    poly *= decay
    return poly


def layer_norm(x: F32, gain: F32, bias: F32, eps: float) -> F32:
    """Normalise each row of the 2-D ``x`` to zero mean and unit variance, then scale and
    shift; overwrites ``x``."""
    x -= x.mean(axis=1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x) / np.float32(x.shape[1])
    x /= np.sqrt(variance + np.float32(eps))[:, None]
    x *= gain
    x += bias
    return x


def softmax(scores: F32) -> F32:
    """Softmax over the last axis, in place."""
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    return scores


def encode(weights: BertWeights, ids: npt.NDArray[np.int64], mask: F32) -> F32:
    """Run the encoder and mean-pool: one L2-normalised vector per row of ``ids``.

    Args:
        weights: prepared model weights.
        ids: token ids, shape ``(batch, length)``, padded on the right.
        mask: 1.0 for real tokens and 0.0 for padding, same shape as ``ids``.

    Returns:
        An array of shape ``(batch, hidden)`` whose rows have unit length.
    """
    batch, length = ids.shape
    hidden = weights.shape.hidden
    x = weights.word[ids]  # a fresh array, so the in-place sums below are safe
    x += weights.position[:length]
    x += weights.token_type
    x2 = layer_norm(
        x.reshape(batch * length, hidden), weights.norm_g, weights.norm_b, weights.shape.eps
    )
    key_bias = ((np.float32(1.0) - mask) * _MASKED)[:, None, None, :]
    for layer in weights.layers:
        x2 = _layer(layer, weights.shape, x2, key_bias, batch)
    return _mean_pool(x2.reshape(batch, length, hidden), mask)


def _layer(layer: LayerWeights, shape: BertShape, x2: F32, key_bias: F32, batch: int) -> F32:
    attended = _attention(layer, shape, x2, key_bias, batch)
    attended += x2
    x2 = layer_norm(attended, layer.attn_norm_g, layer.attn_norm_b, shape.eps)
    up = x2 @ layer.up_w
    up += layer.up_b
    down = gelu(up) @ layer.down_w
    down += layer.down_b
    down += x2
    return layer_norm(down, layer.out_norm_g, layer.out_norm_b, shape.eps)


def _attention(layer: LayerWeights, shape: BertShape, x2: F32, key_bias: F32, batch: int) -> F32:
    rows, hidden = x2.shape
    length, head_dim = rows // batch, hidden // shape.heads
    qkv = x2 @ layer.qkv_w
    qkv += layer.qkv_b
    # (batch, length, 3, heads, head_dim) -> (3, batch, heads, length, head_dim)
    q, k, v = qkv.reshape(batch, length, 3, shape.heads, head_dim).transpose(2, 0, 3, 1, 4)
    scores = q @ k.transpose(0, 1, 3, 2)
    scores += key_bias
    context = softmax(scores) @ v
    merged = context.transpose(0, 2, 1, 3).reshape(rows, hidden)
    out = merged @ layer.out_w
    out += layer.out_b
    return np.asarray(out, dtype=np.float32)


def _mean_pool(states: F32, mask: F32) -> F32:
    summed = np.einsum("blh,bl->bh", states, mask)
    counts = np.maximum(mask.sum(axis=1, keepdims=True), np.float32(1.0))
    pooled = summed / counts
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.asarray(pooled / np.maximum(norms, np.float32(1e-12)), dtype=np.float32)
