"""The LLM seam: one chat-completion call, typed in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class LLMRequest:
    """One chat completion.

    ``json_schema`` (a JSON Schema dict) asks for structured output; a backend uses the
    server's strongest supported mode (``json_schema`` response format, else ``json_object``,
    else plain text parsed tolerantly). ``prompt_id`` is ``id@version`` for accounting and caching.
    """

    messages: tuple[ChatMessage, ...]
    prompt_id: str = ""
    json_schema: dict[str, Any] | None = None
    temperature: float = 0.0
    max_tokens: int = 2048


@dataclass(frozen=True)
class LLMResponse:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


class LLM(Protocol):
    """Anything that completes a chat: an OpenAI-compatible server, llama.cpp, a replay."""

    @property
    def model(self) -> str: ...

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Run one completion; raise an ``LLMError`` subclass on failure after retries."""
        ...
