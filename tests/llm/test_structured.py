"""call_structured: validation, the retry-with-error loop and usage accounting.

Every model reply in this file is a hand-authored response.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from tests.fakes.openai_server import FakeOpenAIServer
from tmem.errors import LLMError, LLMOutputError, LLMTimeoutError
from tmem.llm.base import ChatMessage, LLMRequest, LLMResponse
from tmem.llm.openai import OpenAICompatibleLLM
from tmem.llm.prompts import PromptSpec
from tmem.llm.replay import ScriptedLLM
from tmem.llm.structured import (
    call_structured,
    spent_usage,
    usage_of,
    validate_reply,
)
from tmem.models import Usage

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
VALID = '{"name": "Ada", "age": 36}'
INVALID = '{"name": "Ada", "age": "thirty-six"}'


class Person(BaseModel):
    name: str
    age: int


def render(inputs: Any, now: datetime) -> list[ChatMessage]:
    return [
        ChatMessage("system", f"Extract the person as JSON. Today is {now.date().isoformat()}."),
        ChatMessage("user", str(inputs)),
    ]


SPEC = PromptSpec(id="person", version="2", output=Person, render=render)


def scripted(*replies: str) -> ScriptedLLM:
    """A ScriptedLLM that plays hand-authored responses in order."""
    queue: Iterator[str] = iter(replies)
    return ScriptedLLM(lambda request: next(queue))


def test_valid_first_reply() -> None:
    llm = scripted(VALID)

    result = call_structured(llm, SPEC, "Ada is 36.", NOW)

    assert result.value == Person(name="Ada", age=36)
    assert result.attempts == 1
    assert result.raw == VALID
    assert result.usage.calls == 1
    (request,) = llm.requests
    assert request.prompt_id == "person@2"
    assert request.json_schema == Person.model_json_schema()
    assert "2024-05-01" in request.messages[0].content


def test_invalid_reply_is_retried_with_the_error() -> None:
    llm = scripted(INVALID, VALID)

    result = call_structured(llm, SPEC, "Ada is 36.", NOW)

    assert result.value.age == 36
    assert result.attempts == 2
    assert result.usage.calls == 2
    expected_tokens = sum(r.prompt_tokens + r.completion_tokens for r in _replay(llm))
    assert result.usage.tokens == expected_tokens
    retry = llm.requests[1]
    assert retry.messages[:2] == llm.requests[0].messages
    assert retry.messages[2] == ChatMessage("assistant", INVALID)
    assert retry.messages[3].role == "user"
    assert "age" in retry.messages[3].content


def test_reply_in_prose_and_fences_validates() -> None:
    result = call_structured(scripted(f"Here you go:\n```json\n{VALID}\n```"), SPEC, "x", NOW)

    assert result.value.name == "Ada"


def test_final_failure_raises_output_error_with_raw_and_usage() -> None:
    last = "I cannot answer that."
    llm = scripted(INVALID, "{}", last)

    with pytest.raises(LLMOutputError) as caught:
        call_structured(llm, SPEC, "x", NOW, retries=2)

    assert caught.value.raw == last
    assert caught.value.prompt_id == "person@2"
    assert "3 attempts" in str(caught.value)
    assert spent_usage(caught.value).calls == 3
    assert llm.calls == 3


def test_no_retries_means_one_call() -> None:
    llm = scripted(INVALID, VALID)

    with pytest.raises(LLMOutputError):
        call_structured(llm, SPEC, "x", NOW, retries=0)

    assert llm.calls == 1


def test_transport_errors_propagate_with_usage_so_far() -> None:
    replies = iter([INVALID])

    def respond(request: LLMRequest) -> str:
        """Hand-authored response first, then the endpoint times out."""
        for reply in replies:
            return reply
        raise LLMTimeoutError("endpoint timed out")

    with pytest.raises(LLMTimeoutError) as caught:
        call_structured(ScriptedLLM(respond), SPEC, "x", NOW)

    assert spent_usage(caught.value).calls == 1


def test_spent_usage_of_a_foreign_error_is_zero() -> None:
    assert spent_usage(ValueError("x")) == Usage()
    assert spent_usage(LLMError("x")) == Usage()


def test_a_replayed_response_counts_as_the_call_it_stands_for() -> None:
    assert usage_of(LLMResponse("x", "m", 10, 5, cached=True)) == Usage(1, 10, 5)
    assert usage_of(LLMResponse("x", "m", 10, 5)) == Usage(1, 10, 5)


def test_validate_reply_names_each_bad_field() -> None:
    with pytest.raises(LLMOutputError) as caught:
        validate_reply('{"age": "old"}', Person)

    message = str(caught.value)
    assert "name: Field required" in message
    assert "age:" in message
    assert caught.value.raw == '{"age": "old"}'


def test_end_to_end_over_http(fake_openai: FakeOpenAIServer) -> None:
    replies = iter([INVALID, VALID])
    fake_openai.script_chat("person@2", lambda body: next(replies))
    with OpenAICompatibleLLM(fake_openai.base_url, "fake-model", backoff_s=0.001) as llm:
        result = call_structured(llm, SPEC, "Ada is 36.", NOW)

    assert result.value == Person(name="Ada", age=36)
    requests = fake_openai.chat_requests("person@2")
    assert len(requests) == 2
    assert requests[1].messages[2] == {"role": "assistant", "content": INVALID}
    assert result.usage.calls == 2
    assert result.usage.prompt_tokens > 0


def _replay(llm: ScriptedLLM) -> list[LLMResponse]:
    """The responses a ScriptedLLM gave, recomputed from its recorded requests."""
    replies = iter([INVALID, VALID])
    again = ScriptedLLM(lambda request: next(replies))
    return [again.complete(request) for request in llm.requests]
