"""build_embedder and the tmem.embed package surface."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tmem.embed
from tmem.config import EmbedderConfig, Secret
from tmem.embed import HashEmbedder, MiniLMEmbedder, OpenAIEmbedder, build_embedder
from tmem.errors import ConfigError


def test_hash_kind_builds_a_hash_embedder_of_the_configured_dim() -> None:
    embedder = build_embedder(EmbedderConfig(kind="hash", dim=64))

    assert isinstance(embedder, HashEmbedder)
    assert embedder.embed(["hello"]).shape == (1, 64)


def test_minilm_is_the_default_and_loads_nothing_yet() -> None:
    embedder = build_embedder(EmbedderConfig(model="/nonexistent/folder"))

    assert isinstance(embedder, MiniLMEmbedder)
    assert embedder.name.startswith("all-MiniLM-L6-v2@")
    assert embedder.dim == 384


def test_minilm_refuses_another_dimension() -> None:
    with pytest.raises(ConfigError, match="384"):
        build_embedder(EmbedderConfig(kind="minilm", dim=768))


def test_openai_kind_passes_its_settings() -> None:
    config = EmbedderConfig(
        kind="openai", base_url="http://127.0.0.1:9/v1", model="m", api_key=Secret("k"), dim=8
    )

    embedder = build_embedder(config)

    assert isinstance(embedder, OpenAIEmbedder)
    assert (embedder.name, embedder.dim) == ("openai:m@8", 8)
    embedder.close()


def test_openai_kind_needs_url_and_model() -> None:
    with pytest.raises(ConfigError, match="base_url"):
        build_embedder(EmbedderConfig(kind="openai"))


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(tmem.embed.__all__) == [
        "Embedder",
        "HashEmbedder",
        "MiniLMEmbedder",
        "OpenAIEmbedder",
        "build_embedder",
    ]
    assert all(getattr(tmem.embed, name) is not None for name in tmem.embed.__all__)
    with pytest.raises(AttributeError):
        _ = tmem.embed.NoSuchEmbedder


def test_importing_the_package_loads_no_heavy_dependency() -> None:
    code = (
        "import sys, tmem.embed; "
        "print(sorted(m for m in ('tokenizers', 'safetensors', 'httpx') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == "[]"
