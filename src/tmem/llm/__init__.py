"""Language-model access: the :class:`LLM` protocol, its backends and structured calls.

Backends: :class:`tmem.llm.openai.OpenAICompatibleLLM` (any OpenAI-compatible server),
:class:`tmem.llm.local.LlamaCppLLM` (extra ``local``), :class:`ScriptedLLM` (an in-process
fake) and :class:`CachedLLM` (a persistent cache in front of any of them).
"""

from tmem.llm.base import LLM, ChatMessage, LLMRequest, LLMResponse
from tmem.llm.cache import CachedLLM
from tmem.llm.factory import build_llm
from tmem.llm.replay import ScriptedLLM
from tmem.llm.structured import Structured, call_structured, spent_usage

__all__ = [
    "LLM",
    "CachedLLM",
    "ChatMessage",
    "LLMRequest",
    "LLMResponse",
    "ScriptedLLM",
    "Structured",
    "build_llm",
    "call_structured",
    "spent_usage",
]
