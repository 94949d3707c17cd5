"""Build the configured embedder from an :class:`~tmem.config.EmbedderConfig`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from tmem.config import EmbedderConfig
from tmem.embed.base import Embedder
from tmem.errors import ConfigError

DEFAULT_OPENAI_TIMEOUT_S = 30.0


def build_embedder(config: EmbedderConfig) -> Embedder:
    """The embedder ``config`` describes. Nothing is loaded or contacted yet.

    ``minilm`` reads the installed weights package, or the folder named by ``model``
    when given; ``openai`` needs ``base_url`` and ``model``; ``hash`` needs nothing.

    Raises:
        ConfigError: the kind is unknown or its settings do not fit it.
    """
    config.validate()
    builder = _BUILDERS.get(config.kind)
    if builder is None:
        raise ConfigError(
            f"unknown embedder kind {config.kind!r}; choose one of {', '.join(_BUILDERS)}"
        )
    return builder(config)


def _minilm(config: EmbedderConfig) -> Embedder:
    from tmem.embed.minilm import DIM, MODEL_NAME, MiniLMEmbedder

    if config.dim != DIM:
        raise ConfigError(f"{MODEL_NAME} produces {DIM}-d vectors, not dim={config.dim}")
    model_dir = None if config.model in (None, MODEL_NAME) else config.model
    return MiniLMEmbedder(model_dir, batch_size=config.batch_size)


def _openai(config: EmbedderConfig) -> Embedder:
    from tmem.embed.openai import OpenAIEmbedder

    if config.base_url is None or config.model is None:  # validate() already refused this
        raise ConfigError("the openai embedder needs base_url and model")
    return OpenAIEmbedder(
        config.base_url,
        config.model,
        api_key=str(config.api_key) if config.api_key is not None else None,
        dim=config.dim,
        timeout_s=DEFAULT_OPENAI_TIMEOUT_S,
        batch_size=config.batch_size,
    )


def _hash(config: EmbedderConfig) -> Embedder:
    from tmem.embed.hashing import HashEmbedder

    return HashEmbedder(dim=config.dim)


_BUILDERS: Mapping[str, Callable[[EmbedderConfig], Embedder]] = MappingProxyType(
    {"minilm": _minilm, "openai": _openai, "hash": _hash}
)
