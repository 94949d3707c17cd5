"""build_llm: LLM-free mode, the OpenAI-compatible backend and invalid settings."""

from __future__ import annotations

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tmem.config import LLMConfig, Secret
from tmem.errors import ConfigError
from tmem.llm.base import ChatMessage, LLMRequest
from tmem.llm.factory import build_llm
from tmem.llm.openai import OpenAICompatibleLLM


def test_disabled_config_builds_nothing() -> None:
    assert build_llm(LLMConfig()) is None


def test_invalid_config_is_rejected() -> None:
    with pytest.raises(ConfigError, match="model"):
        build_llm(LLMConfig(base_url="http://127.0.0.1:1/v1"))


def test_base_url_builds_a_working_client(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "pong")  # hand-authored response
    cfg = LLMConfig(
        base_url=fake_openai.base_url,
        model="fake-model",
        api_key=Secret("sk-factory"),
        json_mode="json_object",
        max_tokens=64,
    )

    llm = build_llm(cfg)

    assert isinstance(llm, OpenAICompatibleLLM)
    assert llm.structured_mode == "json_object"
    reply = llm.complete(LLMRequest((ChatMessage("user", "ping"),), max_tokens=1000))
    assert reply.text == "pong"
    (request,) = fake_openai.chat_requests()
    assert request.headers["authorization"] == "Bearer sk-factory"
    assert request.body["max_tokens"] == 64
