"""CachedLLM on real SQLite files; replies are hand-authored responses from a ScriptedLLM."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tmem.errors import LLMError
from tmem.llm.base import ChatMessage, LLMRequest
from tmem.llm.cache import CachedLLM, cache_key
from tmem.llm.replay import ScriptedLLM

REQUEST = LLMRequest(
    (ChatMessage("system", "Summarise."), ChatMessage("user", "We had lunch at noon.")),
    prompt_id="scene@1",
    json_schema={"type": "object", "properties": {"title": {"type": "string"}}},
)


def echo_llm() -> ScriptedLLM:
    """Hand-authored responses: the last message, upper-cased."""
    return ScriptedLLM(lambda request: request.messages[-1].content.upper())


def refusing_llm() -> ScriptedLLM:
    def respond(request: LLMRequest) -> str:
        raise LLMError("the inner LLM must not be called on a hit")

    return ScriptedLLM(respond)


def test_miss_then_hit(tmp_path: Path) -> None:
    inner = echo_llm()
    with CachedLLM(inner, tmp_path / "cache.db") as cache:
        first = cache.complete(REQUEST)
        second = cache.complete(REQUEST)

        assert (cache.misses, cache.hits) == (1, 1)
        assert len(cache) == 1
    assert inner.calls == 1
    assert first.cached is False and first.prompt_tokens > 0
    assert second.cached is True
    assert second.text == first.text == "WE HAD LUNCH AT NOON."
    # A replay reports what the call cost when it was made.
    assert (second.prompt_tokens, second.completion_tokens) == (
        first.prompt_tokens,
        first.completion_tokens,
    )
    assert second.model == "scripted"


def test_persists_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    with CachedLLM(echo_llm(), path) as cache:
        cache.complete(REQUEST)

    with CachedLLM(refusing_llm(), path) as reopened:
        assert reopened.complete(REQUEST).text == "WE HAD LUNCH AT NOON."
        assert reopened.hits == 1


@pytest.mark.parametrize(
    "changed",
    [
        replace(REQUEST, temperature=0.7),
        replace(REQUEST, max_tokens=10),
        replace(REQUEST, json_schema=None),
        replace(REQUEST, prompt_id="scene@2"),
        replace(REQUEST, messages=(*REQUEST.messages, ChatMessage("user", "more"))),
    ],
)
def test_anything_that_shapes_a_reply_is_a_miss(tmp_path: Path, changed: LLMRequest) -> None:
    inner = echo_llm()
    with CachedLLM(inner, tmp_path / "cache.db") as cache:
        cache.complete(REQUEST)
        cache.complete(changed)

    assert inner.calls == 2


def test_model_is_part_of_the_key() -> None:
    assert cache_key("a", REQUEST) != cache_key("b", REQUEST)
    assert cache_key("a", REQUEST) == cache_key("a", replace(REQUEST))


def test_schema_key_order_does_not_matter() -> None:
    one = replace(REQUEST, json_schema={"type": "object", "title": "T"})
    two = replace(REQUEST, json_schema={"title": "T", "type": "object"})
    assert cache_key("m", one) == cache_key("m", two)


def test_errors_are_not_cached(tmp_path: Path) -> None:
    with CachedLLM(refusing_llm(), tmp_path / "cache.db") as cache:
        with pytest.raises(LLMError):
            cache.complete(REQUEST)
        assert len(cache) == 0


def test_threads_share_one_cache(tmp_path: Path) -> None:
    inner = echo_llm()
    requests = [replace(REQUEST, messages=(ChatMessage("user", f"message {n}"),)) for n in range(5)]
    failures: list[str] = []

    def work() -> None:
        for request in requests * 4:
            text = cache.complete(request).text
            if text != request.messages[-1].content.upper():
                failures.append(text)

    with CachedLLM(inner, tmp_path / "cache.db") as cache:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert failures == []
        assert len(cache) == 5
        assert cache.hits + cache.misses == 8 * 20
        assert inner.calls == cache.misses


def test_concurrent_misses_on_one_key_make_one_call(tmp_path: Path) -> None:
    release = threading.Event()

    def slow(request: LLMRequest) -> str:
        """Hand-authored response, held back until every thread has asked."""
        release.wait(timeout=5)
        return "once"

    inner = ScriptedLLM(slow)
    with CachedLLM(inner, tmp_path / "cache.db") as cache:
        texts: list[str] = []
        threads = [
            threading.Thread(target=lambda: texts.append(cache.complete(REQUEST).text))
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        # Give the other threads time to reach the cache while the first call is held back.
        while inner.calls == 0:
            time.sleep(0.005)
        time.sleep(0.1)
        release.set()
        for thread in threads:
            thread.join()

        assert texts == ["once"] * 4
        assert inner.calls == 1
        assert (cache.misses, cache.hits) == (1, 3)
