"""Language-model access: the :class:`LLM` protocol, its backends and structured calls."""

from tmem.llm.base import LLM, ChatMessage, LLMRequest, LLMResponse

__all__ = ["LLM", "ChatMessage", "LLMRequest", "LLMResponse"]
