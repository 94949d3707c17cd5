"""An in-process :class:`~tmem.llm.base.LLM` that answers from a Python function.

``ScriptedLLM`` ships with the library (like ``httpx.MockTransport``) so tests of the write
path and users' own tests need no server and patch nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from tmem.errors import LLMError
from tmem.llm.base import LLMRequest, LLMResponse

Responder = Callable[[LLMRequest], str]


class ScriptedLLM:
    """Answers every request with ``responder(request)``; thread-safe.

    Token counts are a stand-in for a tokenizer: ``len(text) // 4`` for the prompt (all message
    contents) and for the reply.

    Attributes:
        calls: how many requests were answered.
        requests: every request received, oldest first.
    """

    def __init__(self, responder: Responder, model: str = "scripted") -> None:
        self._responder = responder
        self._model = model
        self._lock = threading.Lock()
        self.calls = 0
        self.requests: list[LLMRequest] = []

    @classmethod
    def by_prompt(
        cls, replies: Mapping[str, str | Responder], model: str = "scripted"
    ) -> ScriptedLLM:
        """Dispatch on ``request.prompt_id``.

        Keys are ``id@version`` (exact) or a bare ``id`` (any version). A string value is the
        reply itself. An unscripted prompt raises :class:`~tmem.errors.LLMError`.
        """

        def respond(request: LLMRequest) -> str:
            bare = request.prompt_id.split("@", 1)[0]
            reply = replies.get(request.prompt_id, replies.get(bare))
            if reply is None:
                known = ", ".join(sorted(replies)) or "none"
                raise LLMError(f"ScriptedLLM has no reply for {request.prompt_id!r} ({known})")
            return reply if isinstance(reply, str) else reply(request)

        return cls(respond, model)

    @property
    def model(self) -> str:
        return self._model

    def __repr__(self) -> str:
        return f"ScriptedLLM(model={self._model!r}, calls={self.calls})"

    def complete(self, request: LLMRequest) -> LLMResponse:
        with self._lock:
            self.calls += 1
            self.requests.append(request)
        text = self._responder(request)
        prompt_chars = sum(len(message.content) for message in request.messages)
        return LLMResponse(
            text=text,
            model=self._model,
            prompt_tokens=prompt_chars // 4,
            completion_tokens=len(text) // 4,
        )
