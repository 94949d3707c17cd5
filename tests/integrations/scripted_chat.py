"""A chat model for Agent Framework tests: records what it is sent, replies with a fixed text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from agent_framework import BaseChatClient, ChatResponse
from agent_framework import Message as ChatMessage


class ScriptedClient(BaseChatClient):
    """A chat model that records every request and answers with ``reply``."""

    def __init__(self, reply: str = "Noted.") -> None:
        super().__init__()
        self.reply = reply
        self.requests: list[list[ChatMessage]] = []

    async def _inner_get_response(
        self, *, messages: Sequence[ChatMessage], stream: bool, options: Any, **kwargs: Any
    ) -> ChatResponse:
        assert not stream, "the tests never stream"
        self.requests.append(list(messages))
        return ChatResponse(messages=[ChatMessage(role="assistant", contents=[self.reply])])

    def texts(self, request: int = -1) -> list[str]:
        """The text of every message of a request (the last one by default)."""
        return [message.text for message in self.requests[request]]
