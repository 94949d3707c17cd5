"""One typed, frozen configuration, built at the edges (CLI, server) and passed inward.

The library never reads the environment on its own: :func:`config_from_env` (below) does, for
the command line, the server, and a program that asks with :meth:`Config.from_env`. The
variables (``TMEM_DB`` is the command line's ``--db``):

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
TMEM_EXTRACT_INSTRUCTIONS     what extraction should keep, for every user (at most 2,000
                              characters), e.g. "remember dietary needs; ignore small talk"
============================  ==============================================================
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, get_args

from tmem.errors import ConfigError, InputError
from tmem.validate import check_instructions


class Secret(str):
    """A string whose ``repr`` hides its value (API keys)."""

    def __repr__(self) -> str:
        return "Secret('**********')"


JsonMode = Literal["auto", "json_schema", "json_object", "none"]


@dataclass(frozen=True)
class LLMConfig:
    """Where the LLM lives. No ``base_url`` and no ``local_model_path`` means LLM-free mode."""

    base_url: str | None = None
    model: str | None = None
    api_key: Secret | None = None
    local_model_path: str | None = None
    """A GGUF file run in-process by llama-cpp-python (extra ``local``)."""
    local_threads: int = 2
    """CPU threads the local model computes with."""
    local_prompt_cache_mb: int = 1024
    """RAM for the local model's prompt-prefix cache (0: none). Write-path prompts share long
    instructions, so a cached prefix spares re-reading them on every call."""
    timeout_s: float = 120.0
    max_retries: int = 3
    """Retries of a failed transport call (connect errors, timeouts, 429, 5xx)."""
    output_retries: int = 2
    """Corrective retries when a reply fails validation (the error is shown to the model)."""
    concurrency: int = 4
    json_mode: JsonMode = "auto"
    temperature: float = 0.0
    max_tokens: int = 2048
    """Cap on the tokens one call may generate: it stops a weak model that rambles from spending
    thousands of tokens on a few turns. Raise it if a capable model's replies get cut off."""
    context_tokens: int = 8192
    """The model's context window; prompts are windowed to fit it."""

    @property
    def enabled(self) -> bool:
        return bool(self.base_url or self.local_model_path)

    def validate(self) -> None:
        if self.base_url and not self.model:
            raise ConfigError("LLM base_url is set but model is not (TMEM_LLM_MODEL)")
        if self.base_url and self.local_model_path:
            raise ConfigError("set either an LLM base_url or a local model path, not both")
        if self.concurrency < 1 or self.max_retries < 0 or self.output_retries < 0:
            raise ConfigError("LLM concurrency must be >= 1 and retries >= 0")
        if self.max_tokens < 1 or self.local_threads < 1 or self.local_prompt_cache_mb < 0:
            raise ConfigError(
                "LLM max_tokens and local threads must be >= 1, the prompt cache >= 0 MB"
            )


EmbedderKind = Literal["minilm", "openai", "hash"]


@dataclass(frozen=True)
class EmbedderConfig:
    """Which embedder. ``minilm`` (default) runs all-MiniLM-L6-v2 offline; ``hash`` is a
    deterministic bag-of-words fake for tests; ``openai`` calls an embeddings endpoint."""

    kind: EmbedderKind = "minilm"
    base_url: str | None = None
    model: str | None = None
    api_key: Secret | None = None
    dim: int = 384
    batch_size: int = 64

    def validate(self) -> None:
        if self.kind == "openai" and not (self.base_url and self.model):
            raise ConfigError("the openai embedder needs base_url and model")
        if self.dim < 1:
            raise ConfigError("embedder dim must be positive")


@dataclass(frozen=True)
class RerankerConfig:
    """An optional cross-encoder behind a ``/rerank`` endpoint (vLLM, llama.cpp, TEI, Jina,
    Cohere). Without ``base_url`` the fused ranking is final."""

    base_url: str | None = None
    model: str | None = None
    api_key: Secret | None = None
    timeout_s: float = 30.0
    scene_candidates: int = 24
    """Fused scenes sent to the reranker (T-Mem's "wide recall" of 24)."""
    item_candidates: int = 40

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    def validate(self) -> None:
        if self.base_url and not self.model:
            raise ConfigError("the reranker's base_url is set but its model is not")


@dataclass(frozen=True)
class WriteConfig:
    """Write-path parameters (the T-Mem paper's defaults unless noted)."""

    session_gap_minutes: float = 60.0
    """LLM-free scenes: a gap this long between turns starts a new scene."""
    max_scene_turns: int = 24
    """LLM-free scenes are cut at this many turns."""
    segment_window_turns: int = 40
    """Full mode: turns per segmentation call (one call per window, not per message)."""
    trigger_chunk_turns: int = 10
    """Scenes longer than this get Scene/Horizon triggers per chunk, never none."""
    merge_ratio: float = 0.90
    """Entity/Bridge triggers whose normalised concepts match at this fuzzy ratio merge."""
    edge_confidence: float = 0.70
    """Entity/Bridge edges below this confidence are dropped."""
    horizon_min_confidence: float = 0.30
    """Horizon sentences below this confidence are treated as empty channels."""
    copy_ratio: float = 0.85
    """Trigger sentences this similar (fuzzy ratio) to a source turn are rejected as copies."""
    persona: bool = True
    supersede: bool = True
    """Let a new fact that contradicts an older one supersede it."""
    instructions: str = ""
    """What extraction should keep and leave out, for every user of the deployment (e.g.
    "remember dietary needs and travel plans; ignore small talk"): shown to every extraction
    call in a fenced section of its own, next to the user's own instructions
    (:meth:`tmem.Memory.set_instructions`), and winning where they disagree. They choose what
    is kept, never the reply's form. At most 2,000 characters; part of the fingerprint, and of
    every extraction request, so cached replies made under other instructions are never
    reused."""

    def validate(self) -> None:
        try:
            check_instructions(self.instructions, "write.instructions")
        except InputError as error:
            raise ConfigError(str(error)) from None


FusionKind = Literal["rrf", "adaptive"]
FUSIONS: tuple[FusionKind, ...] = ("rrf", "adaptive")


@dataclass(frozen=True)
class AdaptiveWeights:
    """How the adaptive fusion weighs channels (see :mod:`tmem.retrieve.fusion`)."""

    lexical_null: float
    lexical_sure: float
    lexical_weight: float
    context_weight: float

    def __post_init__(self) -> None:
        if not 0 <= self.lexical_null <= self.lexical_sure:
            raise ValueError("need 0 <= lexical_null <= lexical_sure")
        if self.lexical_weight < 0 or self.context_weight < 0:
            raise ValueError("channel weights must be >= 0")


@dataclass(frozen=True)
class RetrievalConfig:
    """Read-path parameters."""

    rrf_k: int = 60
    candidates: int = 50
    """Candidates per channel before fusion."""
    scene_limit: int = 5
    item_limit: int = 15
    trigger_top: int = 10
    """Entity/Bridge: the best ``trigger_top`` triggers are expanded to their items."""
    trigger_gate: float = 0.45
    """Cosine gate for trigger recall. T-Mem's 0.85 is for bge-m3; MiniLM's scale is lower."""
    scene_trigger_top: int = 10
    families: tuple[str, ...] = ("entity", "bridge", "scene", "horizon")
    """Trigger families used at read time (ablations switch them off here)."""
    lexical: bool = True
    dense: bool = True
    fusion: str = "rrf"
    """``"rrf"``: every channel weighted 1. ``"adaptive"``: BM25 and ``context`` weighted per
    query from the strength of its lexical evidence, in LLM-free turn search
    (:mod:`tmem.retrieve.fusion`); experimental, see ``docs/benchmarks.md``. Its thresholds
    are on the SQLite store's BM25 scale; Postgres ranks text on another scale."""
    lexical_null: float = 10.4
    """Adaptive fusion: a best BM25 score up to this gives BM25 weight 0 (the 90th percentile
    of the best BM25 score on the development set's tuning half, where no query shares a word
    with what it needs)."""
    lexical_sure: float = 13.6
    """Adaptive fusion: from this best BM25 score on, BM25 has weight ``lexical_weight`` (the
    tuning half's maximum)."""
    lexical_weight: float = 1.0
    context_weight: float = 1.0

    def validate(self) -> None:
        if self.fusion not in FUSIONS:
            raise ConfigError(f"retrieval fusion must be one of {', '.join(FUSIONS)}")
        try:
            AdaptiveWeights(
                self.lexical_null, self.lexical_sure, self.lexical_weight, self.context_weight
            )
        except ValueError as error:
            raise ConfigError(f"adaptive fusion: {error}") from None


@dataclass(frozen=True)
class Config:
    """Everything that shapes what tmem stores and returns."""

    llm: LLMConfig = field(default_factory=LLMConfig)
    embedder: EmbedderConfig = field(default_factory=EmbedderConfig)
    write: WriteConfig = field(default_factory=WriteConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    reranker: RerankerConfig = field(default_factory=RerankerConfig)
    durable: bool = False
    """SQLite ``synchronous=FULL`` (every acknowledged write survives power loss) vs NORMAL."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """The configuration the CLI and the server use: ``TMEM_*`` variables over defaults.

        ``Memory.open(path)`` alone uses ``Config()`` and never looks at the environment; pass
        ``Config.from_env()`` to configure a program the way the ``tmem`` command is. The
        variables are listed in this module's docstring; :func:`config_from_env` reads them.

        Args:
            env: the variables to read (default ``os.environ``).

        Raises:
            ConfigError: a variable is malformed or contradicts another.
        """
        return config_from_env(os.environ if env is None else env)

    def validate(self) -> Config:
        self.llm.validate()
        self.embedder.validate()
        self.write.validate()
        self.retrieval.validate()
        self.reranker.validate()
        return self

    def with_llm(self, **changes: Any) -> Config:
        return replace(self, llm=replace(self.llm, **changes))

    def with_retrieval(self, **changes: Any) -> Config:
        return replace(self, retrieval=replace(self.retrieval, **changes))

    def fingerprint(self) -> str:
        """A short hash of every setting that changes results (no secrets, no URLs)."""
        from tmem.llm.prompts import prompt_versions

        data = {
            "llm_model": self.llm.model or self.llm.local_model_path or None,
            "embedder": [self.embedder.kind, self.embedder.model, self.embedder.dim],
            "write": asdict(self.write),
            "retrieval": asdict(self.retrieval),
            "reranker": self.reranker.model if self.reranker.enabled else None,
            "prompts": prompt_versions(),
        }
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# --- TMEM_* variables (listed in the module docstring) ---------------------------------------

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


def write_from_env(env: Mapping[str, str]) -> WriteConfig:
    try:
        instructions = check_instructions(
            env.get("TMEM_EXTRACT_INSTRUCTIONS", ""), "TMEM_EXTRACT_INSTRUCTIONS"
        )
    except InputError as error:
        raise ConfigError(str(error)) from None
    return WriteConfig(instructions=instructions)


def config_from_env(env: Mapping[str, str]) -> Config:
    """The whole configuration from ``env`` (pass ``os.environ``), validated."""
    durable = parse_bool("TMEM_DURABLE", env.get("TMEM_DURABLE", ""))
    return Config(
        llm=llm_from_env(env),
        embedder=embedder_from_env(env),
        reranker=reranker_from_env(env),
        write=write_from_env(env),
        retrieval=RetrievalConfig(fusion=_choice(env, "TMEM_FUSION", "rrf", FUSIONS)),
        durable=durable,
    ).validate()
