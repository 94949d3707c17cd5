"""The shared fake OpenAI server speaks the wire format other tests rely on."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import httpx

from tests.fakes.openai_server import FakeOpenAIServer


def test_models_and_embeddings(fake_openai: FakeOpenAIServer) -> None:
    models = httpx.get(f"{fake_openai.base_url}/models").json()
    reply = httpx.post(
        f"{fake_openai.base_url}/embeddings", json={"model": "e", "input": ["a", "b", "a"]}
    ).json()

    assert models["data"][0]["id"] == "fake-model"
    vectors = [row["embedding"] for row in reply["data"]]
    assert [row["index"] for row in reply["data"]] == [0, 1, 2]
    assert len(vectors[0]) == fake_openai.embedding_dim
    assert math.isclose(sum(x * x for x in vectors[0]), 1.0)
    assert vectors[0] == vectors[2] != vectors[1]
    assert reply["usage"]["prompt_tokens"] == 0


def test_scripted_embeddings(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_embeddings(lambda text: [float(len(text)), 0.0])

    reply = httpx.post(f"{fake_openai.base_url}/embeddings", json={"input": "abc"}).json()

    assert reply["data"][0]["embedding"] == [3.0, 0.0]


def test_chat_scripts_faults_and_recording(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.script_chat("scene", lambda body: f"{len(body['messages'])} messages")
    fake_openai.fail_next(429, retry_after=3)
    url = f"{fake_openai.base_url}/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}

    limited = httpx.post(url, json=body, headers={"X-Tmem-Prompt": "scene@4"})
    served = httpx.post(url, json=body, headers={"X-Tmem-Prompt": "scene@4"})
    unscripted = httpx.post(url, json=body, headers={"X-Tmem-Prompt": "item@1"})

    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    assert served.json()["choices"][0]["message"]["content"] == "1 messages"
    assert served.json()["usage"]["completion_tokens"] == len("1 messages") // 4
    assert unscripted.status_code == 404
    assert [r.prompt_id for r in fake_openai.chat_requests()] == ["scene@4"] * 2 + ["item@1"]
    assert len(fake_openai.chat_requests("item@1")) == 1


def test_handler_answers_everything() -> None:
    def handler(
        path: str, headers: Mapping[str, str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        """Hand-authored response echoing the route."""
        return 418, {"X-Route": path}, {"path": path, "body": body}

    with FakeOpenAIServer(handler) as server:
        reply = httpx.post(f"{server.base_url}/anything", json={"x": 1})

    assert reply.status_code == 418
    assert reply.headers["x-route"] == "/v1/anything"
    assert reply.json() == {"path": "/v1/anything", "body": {"x": 1}}


def test_a_failing_script_becomes_a_500(fake_openai: FakeOpenAIServer) -> None:
    def broken(body: dict[str, Any]) -> str:
        raise KeyError("missing")

    fake_openai.script_chat("*", broken)

    reply = httpx.post(f"{fake_openai.base_url}/chat/completions", json={"messages": []})

    assert reply.status_code == 500
    assert "KeyError" in reply.json()["error"]["message"]


def test_body_that_is_not_json_is_recorded_as_text(fake_openai: FakeOpenAIServer) -> None:
    reply = httpx.post(f"{fake_openai.base_url}/chat/completions", content=b"not json")

    assert reply.status_code == 404
    assert fake_openai.requests[0].body == "not json"
