"""``tmem.llm.__all__`` names exactly what the package exports."""

from __future__ import annotations

import tmem.llm


def test_all_is_pinned() -> None:
    assert sorted(tmem.llm.__all__) == [
        "CachedLLM",
        "ChatMessage",
        "LLM",
        "LLMRequest",
        "LLMResponse",
        "ScriptedLLM",
        "Structured",
        "build_llm",
        "call_structured",
        "spent_usage",
    ]
    for name in tmem.llm.__all__:
        assert getattr(tmem.llm, name) is not None
