"""ScriptedLLM, the shipped in-process fake; its replies are hand-authored responses."""

from __future__ import annotations

import pytest

from tmem.errors import LLMError
from tmem.llm.base import LLM, ChatMessage, LLMRequest
from tmem.llm.replay import ScriptedLLM


def request(prompt_id: str = "", text: str = "12345678") -> LLMRequest:
    return LLMRequest((ChatMessage("user", text),), prompt_id=prompt_id)


def test_counts_calls_and_fakes_tokens() -> None:
    llm: LLM = ScriptedLLM(lambda r: "abcdefghijkl", model="toy")

    response = llm.complete(request())

    assert response.text == "abcdefghijkl"
    assert response.model == llm.model == "toy"
    assert (response.prompt_tokens, response.completion_tokens) == (2, 3)
    assert isinstance(llm, ScriptedLLM) and llm.calls == 1
    assert llm.requests == [request()]


def test_by_prompt_dispatches_on_exact_and_bare_ids() -> None:
    llm = ScriptedLLM.by_prompt(
        {"scene@2": "exact", "item": lambda r: f"any version of {r.prompt_id}"}
    )

    assert llm.complete(request("scene@2")).text == "exact"
    assert llm.complete(request("item@7")).text == "any version of item@7"
    with pytest.raises(LLMError, match=r"no reply for 'scene@3' \(item, scene@2\)"):
        llm.complete(request("scene@3"))
