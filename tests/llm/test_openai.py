"""OpenAICompatibleLLM against a real HTTP server on 127.0.0.1 (tests/fakes/openai_server.py).

Every reply the fake server sends is a hand-authored response.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.fakes.openai_server import FakeOpenAIServer, chat_body, error_body
from tmem.config import Secret
from tmem.errors import LLMError, LLMOutputError, LLMRateLimitError, LLMTimeoutError
from tmem.llm.base import ChatMessage, LLMRequest
from tmem.llm.openai import OpenAICompatibleLLM

KEY = "sk-test-0123456789abcdef"
SCHEMA: dict[str, Any] = {
    "title": "Fact",
    "type": "object",
    "properties": {"name": {"type": "string"}},
    "required": ["name"],
}


def make_llm(
    server: FakeOpenAIServer, waits: list[float] | None = None, **options: Any
) -> OpenAICompatibleLLM:
    """A client with tiny backoff whose waits are recorded instead of slept."""
    options.setdefault("backoff_s", 0.01)
    options.setdefault("max_backoff_s", 30.0)
    recorder = waits if waits is not None else []
    return OpenAICompatibleLLM(
        server.base_url, "fake-model", api_key=KEY, sleep=recorder.append, **options
    )


def ask(text: str = "hello world!", prompt_id: str = "fact@1", schema: bool = False) -> LLMRequest:
    return LLMRequest(
        (ChatMessage("system", "Be brief."), ChatMessage("user", text)),
        prompt_id=prompt_id,
        json_schema=SCHEMA if schema else None,
    )


def test_complete_returns_text_and_token_usage(fake_openai: FakeOpenAIServer) -> None:
    reply = '{"name": "Ada"}'  # hand-authored response
    fake_openai.script_chat("fact@1", reply)
    llm = make_llm(fake_openai)

    first = llm.complete(ask())
    llm.complete(ask())

    assert first.text == reply
    assert first.model == "fake-model"
    assert first.prompt_tokens == len("Be brief.hello world!") // 4
    assert first.completion_tokens == len(reply) // 4
    assert first.cached is False
    assert llm.usage.calls == 2
    assert llm.usage.tokens == 2 * (first.prompt_tokens + first.completion_tokens)


def test_sends_prompt_header_credentials_and_body(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "ok")  # hand-authored response
    llm = make_llm(fake_openai, max_tokens=100)

    llm.complete(ask(prompt_id="scene@3"))

    (request,) = fake_openai.chat_requests()
    assert request.prompt_id == "scene@3"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "fake-model"
    assert request.body["messages"][1] == {"role": "user", "content": "hello world!"}
    assert request.body["temperature"] == 0.0
    assert request.body["max_tokens"] == 100
    assert request.response_format is None


def test_retries_server_errors_with_growing_backoff(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "done")  # hand-authored response
    fake_openai.fail_next(503, n=2)
    waits: list[float] = []

    response = make_llm(fake_openai, waits, backoff_s=1.0).complete(ask())

    assert response.text == "done"
    assert len(fake_openai.chat_requests()) == 3
    assert len(waits) == 2
    assert 0.5 <= waits[0] <= 1.0
    assert 1.0 <= waits[1] <= 2.0


def test_gives_up_after_max_retries(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.fail_next(500, n=10)

    with pytest.raises(LLMError, match="HTTP 500") as caught:
        make_llm(fake_openai, max_retries=2).complete(ask())

    assert type(caught.value) is LLMError
    assert len(fake_openai.chat_requests()) == 3


def test_honours_retry_after(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "done")  # hand-authored response
    fake_openai.fail_next(429, n=1, retry_after=2)
    waits: list[float] = []

    make_llm(fake_openai, waits).complete(ask())

    assert waits == [2.0]


def test_retry_after_is_capped(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "done")  # hand-authored response
    fake_openai.fail_next(429, n=1, retry_after=3600)
    waits: list[float] = []

    make_llm(fake_openai, waits, max_backoff_s=5.0).complete(ask())

    assert waits == [5.0]


def test_persistent_rate_limit_raises_rate_limit_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.fail_next(429, n=10, retry_after=0)

    with pytest.raises(LLMRateLimitError, match="429"):
        make_llm(fake_openai, max_retries=3).complete(ask())

    assert len(fake_openai.chat_requests()) == 4


def test_timeout_raises_llm_timeout_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "too late")  # hand-authored response
    fake_openai.delay_next(5.0, n=2)

    with pytest.raises(LLMTimeoutError, match="timed out 2 times"):
        make_llm(fake_openai, timeout_s=0.2, max_retries=1).complete(ask())

    assert len(fake_openai.chat_requests()) == 2


def test_dropped_connection_is_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", "second time lucky")  # hand-authored response
    fake_openai.disconnect_next()
    waits: list[float] = []

    response = make_llm(fake_openai, waits).complete(ask())

    assert response.text == "second time lucky"
    assert len(waits) == 1


def test_unreachable_server_raises_llm_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    llm = OpenAICompatibleLLM(
        f"http://127.0.0.1:{port}/v1", "m", api_key=KEY, max_retries=2, sleep=waits.append
    )

    with pytest.raises(LLMError, match="unreachable after 3 attempts"):
        llm.complete(ask())

    assert len(waits) == 2


def test_client_errors_are_not_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.fail_next(404, body=error_body("model not found"))

    with pytest.raises(LLMError, match=r"HTTP 404: .*model not found"):
        make_llm(fake_openai).complete(ask())

    assert len(fake_openai.chat_requests()) == 1


def test_schema_falls_back_to_json_object_and_remembers(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", '{"name": "Ada"}')  # hand-authored response
    fake_openai.reject_response_format("json_schema")
    llm = make_llm(fake_openai)

    llm.complete(ask(schema=True))
    llm.complete(ask(schema=True))

    kinds = [r.response_format_type for r in fake_openai.chat_requests()]
    assert kinds == ["json_schema", "json_object", "json_object"]
    assert llm.structured_mode == "json_object"


def test_schema_falls_back_to_plain_text(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", '{"name": "Ada"}')  # hand-authored response
    fake_openai.reject_response_format("json_schema", "json_object")
    llm = make_llm(fake_openai)

    llm.complete(ask(schema=True))
    llm.complete(ask(schema=True))

    kinds = [r.response_format_type for r in fake_openai.chat_requests()]
    assert kinds == ["json_schema", "json_object", None, None]
    assert llm.structured_mode == "none"


def test_json_schema_payload_shape(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", '{"name": "Ada"}')  # hand-authored response

    make_llm(fake_openai).complete(ask(schema=True))

    (request,) = fake_openai.chat_requests()
    assert request.response_format == {
        "type": "json_schema",
        "json_schema": {"name": "Fact", "schema": SCHEMA, "strict": False},
    }


def test_bare_400_on_first_schema_call_falls_back() -> None:
    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored responses: a server that 400s on any unknown field, without saying why."""
        if "response_format" in body:
            return 400, {}, {"detail": "bad request"}
        return 200, {}, chat_body('{"name": "Ada"}', body, "m")

    with FakeOpenAIServer(handler) as server:
        llm = make_llm(server)
        response = llm.complete(ask(schema=True))

        assert response.text == '{"name": "Ada"}'
        assert llm.structured_mode == "none"


def test_400_after_a_working_mode_is_an_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", '{"name": "Ada"}')  # hand-authored response
    llm = make_llm(fake_openai)
    llm.complete(ask(schema=True))
    fake_openai.fail_next(400, body=error_body("maximum context length exceeded"))

    with pytest.raises(LLMError, match="context length"):
        llm.complete(ask(schema=True))

    assert llm.structured_mode == "json_schema"
    assert len(fake_openai.chat_requests()) == 2


def test_unrelated_400s_do_not_cost_the_schema_mode(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("*", '{"name": "Ada"}')  # hand-authored response
    fake_openai.fail_next(400, n=3, body=error_body("prompt too long"))
    llm = make_llm(fake_openai)

    with pytest.raises(LLMError, match="prompt too long"):
        llm.complete(ask(schema=True))

    assert len(fake_openai.chat_requests()) == 3
    assert llm.structured_mode == "json_schema"


def test_pinned_json_mode_never_falls_back(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reject_response_format("json_schema")

    with pytest.raises(LLMError, match="HTTP 400"):
        make_llm(fake_openai, json_mode="json_schema").complete(ask(schema=True))

    assert len(fake_openai.chat_requests()) == 1


def test_api_key_never_leaks_into_errors_or_repr() -> None:
    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored response: a 401 that echoes the key, as some providers do."""
        return 401, {}, error_body(f"Incorrect API key provided: {headers['authorization']}")

    with FakeOpenAIServer(handler) as server:
        llm = OpenAICompatibleLLM(server.base_url, "m", api_key=Secret(KEY))
        with pytest.raises(LLMError) as caught:
            llm.complete(ask())

    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert "credentials" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)
    assert KEY not in repr(llm)


def test_refusal_raises_output_error() -> None:
    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored response: a refusal with no content."""
        reply = chat_body("", body, "m")
        reply["choices"][0]["message"] = {"role": "assistant", "content": None, "refusal": "No."}
        return 200, {}, reply

    with FakeOpenAIServer(handler) as server, pytest.raises(LLMOutputError) as caught:
        llm = make_llm(server)
        llm.complete(ask(prompt_id="fact@1"))

    assert llm.usage.calls == 1
    assert llm.usage.prompt_tokens == len("Be brief.hello world!") // 4
    assert caught.value.raw == "No."
    assert caught.value.prompt_id == "fact@1"


def test_body_that_is_not_json_raises() -> None:
    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored response: an HTML page from a misconfigured proxy."""
        return 200, {}, b"<html>gateway</html>"

    with FakeOpenAIServer(handler) as server, pytest.raises(LLMError, match="not JSON"):
        make_llm(server).complete(ask())


def test_concurrency_limits_requests_in_flight() -> None:
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored response after a short pause, counting overlapping requests."""
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        return 200, {}, chat_body("ok", body, "m")

    with FakeOpenAIServer(handler) as server:
        llm = make_llm(server, concurrency=2)
        threads = [threading.Thread(target=llm.complete, args=(ask(),)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert len(server.requests) == 6
    assert 1 <= peak <= 2
    assert llm.usage.calls == 6


def test_custom_transport_is_used() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        """Hand-authored response served by httpx.MockTransport."""
        seen.append(request)
        return httpx.Response(200, json=chat_body("via transport", {"messages": []}, "m"))

    llm = OpenAICompatibleLLM("http://llm.invalid/v1", "m", transport=httpx.MockTransport(answer))

    assert llm.complete(ask()).text == "via transport"
    assert str(seen[0].url) == "http://llm.invalid/v1/chat/completions"
    assert "authorization" not in seen[0].headers


def test_key_cut_by_the_error_snippet_does_not_leak() -> None:
    prefix = len('{"error": {"message": "')

    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored 401 whose echoed key straddles the 300-character snippet limit."""
        return 401, {}, error_body("x" * (290 - prefix) + KEY)

    with FakeOpenAIServer(handler) as server, pytest.raises(LLMError) as caught:
        OpenAICompatibleLLM(server.base_url, "m", api_key=KEY).complete(ask())

    assert "xxxxx" in str(caught.value)
    assert KEY[:8] not in str(caught.value)


def test_adapts_to_servers_that_refuse_max_tokens_and_temperature() -> None:
    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored responses in the words of a reasoning-model endpoint."""
        if "max_tokens" in body:
            return (
                400,
                {},
                error_body(
                    "Unsupported parameter: 'max_tokens' is not supported with this model. "
                    "Use 'max_completion_tokens' instead."
                ),
            )
        if "temperature" in body:
            return (
                400,
                {},
                error_body(
                    "Unsupported value: 'temperature' does not support 0.0 with this model."
                ),
            )
        return 200, {}, chat_body('{"name": "Ada"}', body, "m")

    with FakeOpenAIServer(handler) as server:
        llm = make_llm(server)
        first = llm.complete(ask(schema=True))
        llm.complete(ask(schema=True))

    bodies = [r.body for r in server.requests]
    assert first.text == '{"name": "Ada"}'
    assert len(bodies) == 4
    assert "max_completion_tokens" in bodies[-1] and "temperature" not in bodies[-1]
    assert llm.structured_mode == "json_schema"
