"""Build a :class:`~tmem.config.Config` from ``TMEM_*`` environment variables.

This is the only place tmem reads the environment (the CLI and the server call it).

============================  ==============================================================
variable                      meaning
============================  ==============================================================
TMEM_DB                       store path or postgresql:// URL (default ``tmem.db``)
TMEM_LLM_BASE_URL             OpenAI-compatible endpoint, e.g. ``http://127.0.0.1:8000/v1``
TMEM_LLM_MODEL                model name at that endpoint
TMEM_LLM_API_KEY              API key (optional for local servers)
TMEM_LLM_LOCAL_MODEL          path to a GGUF file run by llama-cpp-python instead
TMEM_LLM_CONCURRENCY          LLM calls in flight (default 4)
TMEM_LLM_TIMEOUT              seconds per LLM call (default 120)
TMEM_LLM_JSON_MODE            auto | json_schema | json_object | none
TMEM_LLM_CONTEXT_TOKENS       the model's context window (default 8192)
TMEM_LLM_MAX_TOKENS           cap on tokens generated per call (default 2048)
TMEM_LLM_MAX_RETRIES          retries of a failed HTTP call: timeouts, 429, 5xx (default 3)
TMEM_LLM_OUTPUT_RETRIES       corrective retries of a reply that fails validation (default 2)
TMEM_LLM_LOCAL_THREADS        CPU threads of the local model (default 2)
TMEM_LLM_LOCAL_CACHE_MB       RAM for the local model's prompt-prefix cache (default 1024)
TMEM_EMBEDDER                 minilm (default) | openai | hash
TMEM_EMBEDDER_BASE_URL        embeddings endpoint (TMEM_EMBEDDER=openai)
TMEM_EMBEDDER_MODEL           embeddings model
TMEM_EMBEDDER_API_KEY         embeddings API key
TMEM_EMBEDDER_DIM             embedding dimension (default 384)
TMEM_RERANK_BASE_URL          optional cross-encoder /rerank endpoint (vLLM, llama.cpp, TEI, ...)
TMEM_RERANK_MODEL             reranker model name
TMEM_RERANK_API_KEY           reranker API key
TMEM_DURABLE                  1/true: fsync every write (SQLite synchronous=FULL)
TMEM_FUSION                   rrf (default) | adaptive: experimental per-query channel weights
============================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import get_args

from tmem.config import (
    Config,
    EmbedderConfig,
    EmbedderKind,
    JsonMode,
    LLMConfig,
    RerankerConfig,
    RetrievalConfig,
    Secret,
)
from tmem.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    value = env.get(name)
    return Secret(value) if value else None


def llm_from_env(env: Mapping[str, str]) -> LLMConfig:
    json_mode: JsonMode = _choice(  # type: ignore[assignment]
        env, "TMEM_LLM_JSON_MODE", "auto", get_args(JsonMode)
    )
    return LLMConfig(
        base_url=env.get("TMEM_LLM_BASE_URL") or None,
        model=env.get("TMEM_LLM_MODEL") or None,
        api_key=_secret(env, "TMEM_LLM_API_KEY"),
        local_model_path=env.get("TMEM_LLM_LOCAL_MODEL") or None,
        timeout_s=_float(env, "TMEM_LLM_TIMEOUT", 120.0),
        concurrency=_int(env, "TMEM_LLM_CONCURRENCY", 4),
        json_mode=json_mode,
        context_tokens=_int(env, "TMEM_LLM_CONTEXT_TOKENS", 8192),
        max_tokens=_int(env, "TMEM_LLM_MAX_TOKENS", 2048),
        max_retries=_int(env, "TMEM_LLM_MAX_RETRIES", 3),
        output_retries=_int(env, "TMEM_LLM_OUTPUT_RETRIES", 2),
        local_threads=_int(env, "TMEM_LLM_LOCAL_THREADS", 2),
        local_prompt_cache_mb=_int(env, "TMEM_LLM_LOCAL_CACHE_MB", 1024),
    )


def embedder_from_env(env: Mapping[str, str]) -> EmbedderConfig:
    kind: EmbedderKind = _choice(  # type: ignore[assignment]
        env, "TMEM_EMBEDDER", "minilm", get_args(EmbedderKind)
    )
    return EmbedderConfig(
        kind=kind,
        base_url=env.get("TMEM_EMBEDDER_BASE_URL") or None,
        model=env.get("TMEM_EMBEDDER_MODEL") or None,
        api_key=_secret(env, "TMEM_EMBEDDER_API_KEY"),
        dim=_int(env, "TMEM_EMBEDDER_DIM", 384),
    )


def reranker_from_env(env: Mapping[str, str]) -> RerankerConfig:
    return RerankerConfig(
        base_url=env.get("TMEM_RERANK_BASE_URL") or None,
        model=env.get("TMEM_RERANK_MODEL") or None,
        api_key=_secret(env, "TMEM_RERANK_API_KEY"),
    )


def config_from_env(env: Mapping[str, str]) -> Config:
    """The whole configuration from ``env`` (pass ``os.environ``), validated."""
    durable = parse_bool("TMEM_DURABLE", env.get("TMEM_DURABLE", ""))
    return Config(
        llm=llm_from_env(env),
        embedder=embedder_from_env(env),
        reranker=reranker_from_env(env),
        retrieval=RetrievalConfig(fusion=_choice(env, "TMEM_FUSION", "rrf", ("rrf", "adaptive"))),
        durable=durable,
    ).validate()


def describe_mode(config: Config) -> str:
    """One line saying which mode tmem runs in, and why."""
    if config.llm.base_url:
        return f"full mode: LLM {config.llm.model} at {config.llm.base_url}"
    if config.llm.local_model_path:
        return f"full mode: local model {config.llm.local_model_path}"
    return (
        "LLM-free mode: no LLM configured (set TMEM_LLM_BASE_URL and TMEM_LLM_MODEL); "
        "evidence is the raw turns, found by dense + BM25 + context fusion; "
        "no scene narratives, items, triggers or answers"
    )
