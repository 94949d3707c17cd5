"""Build the configured :class:`~tmem.llm.base.LLM` from an :class:`~tmem.config.LLMConfig`."""

from __future__ import annotations

from tmem.config import LLMConfig
from tmem.llm.base import LLM


def build_llm(cfg: LLMConfig) -> LLM | None:
    """The LLM ``cfg`` describes, or None in LLM-free mode (no base_url, no local model).

    Raises:
        ConfigError: the settings contradict each other, or the local extra is missing.
    """
    cfg.validate()
    if not cfg.enabled:
        return None
    if cfg.local_model_path:
        # Imported here so that configs without a local model never touch llama-cpp-python.
        from tmem.llm.local import LlamaCppLLM

        return LlamaCppLLM(
            cfg.local_model_path,
            n_ctx=cfg.context_tokens,
            n_threads=cfg.local_threads,
            max_tokens=cfg.max_tokens,
            prompt_cache_mb=cfg.local_prompt_cache_mb,
        )
    from tmem.llm.openai import OpenAICompatibleLLM

    assert cfg.base_url is not None and cfg.model is not None  # guaranteed by validate()
    return OpenAICompatibleLLM(
        cfg.base_url,
        cfg.model,
        api_key=cfg.api_key,
        timeout_s=cfg.timeout_s,
        max_retries=cfg.max_retries,
        concurrency=cfg.concurrency,
        json_mode=cfg.json_mode,
        max_tokens=cfg.max_tokens,
    )
