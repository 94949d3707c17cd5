"""One typed, frozen configuration, built at the edges (CLI, server) and passed inward.

The library never reads the environment on its own: :func:`tmem.cli.settings.config_from_env`
does, for the command line, the server, and a program that asks with :meth:`Config.from_env`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from tmem.errors import ConfigError


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
        from tmem.retrieve.fusion import FUSIONS, AdaptiveWeights

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
        variables are listed in :mod:`tmem.cli.settings`, their one reader.

        Args:
            env: the variables to read (default ``os.environ``).

        Raises:
            ConfigError: a variable is malformed or contradicts another.
        """
        import os

        from tmem.cli.settings import config_from_env

        return config_from_env(os.environ if env is None else env)

    def validate(self) -> Config:
        self.llm.validate()
        self.embedder.validate()
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
