"""How the command line describes a :class:`~tmem.config.Config` to its user.

The ``TMEM_*`` variables are read by :func:`tmem.config.config_from_env` and listed in
:mod:`tmem.config`.
"""

from __future__ import annotations

from tmem.config import Config


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
