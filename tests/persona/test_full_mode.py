"""Persona and extraction instructions end to end, on every store: the real HTTP client against
the fake OpenAI-compatible server, whose replies are hand-authored to follow the prompts.

Each session is one turn, so each extraction's persona entries rest on that one turn.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.fakes.openai_server import FakeOpenAIServer
from tmem import Config, EmbedderConfig, LLMConfig, Memory, WriteConfig
from tmem.clock import FixedClock
from tmem.llm.cache import CachedLLM
from tmem.llm.openai import OpenAICompatibleLLM
from tmem.store.base import Store

USER = "maya"
TURNS = {
    "m1": "I work as a nurse, and Ben is my colleague.",
    "m2": "Chess is the hobby I love most.",
    "m3": "I am a surgeon now; I love go, poker, bridge, darts, golf and tennis. Ben is my boss.",
    "m4": "These days I teach at the college.",
}
# What the hand-authored model states about Maya for each turn.
PERSONA = {
    "nurse": {"identity": {"occupation": "nurse"}, "relations": [{"person": "Ben",
                                                                  "relation": "colleague"}]},
    "Chess": {"preferences": {"hobbies": ["chess"]}},
    "surgeon": {
        "identity": {"occupation": "surgeon"},
        "preferences": {"hobbies": ["go", "poker", "bridge", "darts", "golf", "tennis"]},
        "relations": [{"person": "Ben", "relation": "boss"}],
    },
    "teach": {"identity": {"occupation": "teacher"}},
}  # fmt: skip


def turns_of(body: dict[str, Any], section: str = "Turns to") -> list[tuple[int, str]]:
    text = body["messages"][-1]["content"].split(section, 1)[-1]
    return [(int(n), rest) for n, rest in re.findall(r"^\[(\d+)\] (.*)$", text, flags=re.M)]


def segment_reply(body: dict[str, Any]) -> str:
    n = max(number for number, _ in turns_of(body))
    scene = {"start": 1, "end": n, "continues_open_scene": False, "title": "Maya on her life",
             "summary": "Maya talks about her life.", "narrative": "Maya talked."}  # fmt: skip
    return json.dumps({"scenes": [scene]})


def extract_reply(body: dict[str, Any]) -> str:
    told = " ".join(rest for _, rest in turns_of(body, "Turns to extract from"))
    persona = [{"speaker": "Maya", **spec} for marker, spec in PERSONA.items() if marker in told]
    item = {"content": f"Maya said: {told}", "keywords": ["Maya"], "source_turns": [1]}
    facets = {"situation": "a chat about life", "object": "her work", "event": "an update",
              "emotion": "calm"}  # fmt: skip
    return json.dumps({"items": [item], "scene": facets, "horizon": {}, "persona": persona})


def answer_reply(body: dict[str, Any]) -> str:
    return json.dumps({"reasoning": "From the people section.", "answer": "A midwife."})


def config(server: FakeOpenAIServer, instructions: str = "") -> Config:
    return Config(
        llm=LLMConfig(base_url=server.base_url, model="fake-model", max_retries=1),
        embedder=EmbedderConfig(kind="hash"),
        write=WriteConfig(instructions=instructions),
    )


def add(mem: Memory, turn_id: str, *, derive: bool = True) -> None:
    message = {"id": turn_id, "speaker": "Maya", "content": TURNS[turn_id],
               "timestamp": f"2025-0{turn_id[1]}-01T10:00:00Z"}  # fmt: skip
    assert mem.add([message], USER, session_id=f"s-{turn_id}", derive=derive).ok


def people(server: FakeOpenAIServer) -> str:
    """The persona section of the last answer prompt."""
    prompt = server.chat_requests("answer@2")[-1].messages[-1]["content"]
    return prompt[prompt.index("People:") :]


def test_hand_edits_and_pins_survive_extraction_reindex_and_deletion(
    store: Store, fake_openai: FakeOpenAIServer
) -> None:
    for prompt, reply in (("segment@2", segment_reply), ("extract@2", extract_reply),
                          ("answer@2", answer_reply)):  # fmt: skip
        fake_openai.script_chat(prompt, reply)
    mem = Memory.open(config=config(fake_openai), store=store)
    add(mem, "m1")
    add(mem, "m2")
    entries = {e.value: e for e in mem.persona(USER)}
    assert {v: e.source_turns for v, e in entries.items()} == {
        "nurse": ("m1",), "colleague": ("m1",), "chess": ("m2",),
    }  # fmt: skip
    midwife = mem.set_persona_entry(USER, "midwife", id=entries["nurse"].id)
    mem.pin_persona_entry(entries["chess"].id, USER)

    add(mem, "m3")  # the model says surgeon, six hobbies, and that Ben is her boss
    add(mem, "m4", derive=False)
    assert mem.reindex(USER).ok  # ... and that she teaches
    now = {e.value: e for e in mem.persona(USER)}
    assert now["midwife"].id == midwife.id and now["chess"].pinned
    assert {"surgeon", "teacher", "nurse", "colleague"}.isdisjoint(now)
    assert now["boss"].origin == "model"  # not protected: the model's newer word stands
    hobbies = [e.value for e in mem.persona(USER) if e.key == "hobbies"]
    assert hobbies == ["chess", "poker", "bridge", "darts", "golf", "tennis"]

    mem.answer("What does Maya do?", USER)
    assert "occupation: midwife" in people(fake_openai) and "chess" in people(fake_openai)
    assert "surgeon" not in people(fake_openai) and "teacher" not in people(fake_openai)

    # The turn "nurse" came from goes: the hand-written entry stays, and its history keeps no
    # word the model wrote from that turn. The pinned chess entry was the model's: it goes.
    mem.delete("m1", USER)
    mem.delete("m2", USER)
    left = {e.value: e for e in mem.persona(USER)}
    assert "midwife" in left and "chess" not in left
    assert left["midwife"].source_turns == ()
    assert [(h.event, h.text, h.detail) for h in mem.history(midwife.id, USER)] == [
        ("created", "", "model; text erased with m1"),
        ("updated", "midwife", "hand"),
    ]
    assert [h.event for h in mem.history(entries["chess"].id, USER)] == ["deleted"]
    assert "nurse" not in repr(list(mem.export(USER)))
    mem.answer("What does Maya do?", USER)
    assert "occupation: midwife" in people(fake_openai) and "chess" not in people(fake_openai)


def test_instructions_reach_every_extraction_request(
    store: Store, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script_chat("segment@2", segment_reply)
    fake_openai.script_chat("extract@2", extract_reply)
    mem = Memory.open(config=config(fake_openai, "Remember dietary needs."), store=store)
    assert mem.set_instructions(USER, "  Ignore small talk.\n") == "Ignore small talk."
    add(mem, "m1")
    mem.add([{"speaker": "Ana", "content": "I am vegan."}], "ana")
    maya, ana = (r.messages[-1]["content"] for r in fake_openai.chat_requests("extract@2"))
    operator = '<instructions from="operator">\nRemember dietary needs.\n</instructions>'
    user = '<instructions from="user">\nIgnore small talk.\n</instructions>'
    assert operator in maya and user in maya
    assert operator in ana and "Ignore small talk" not in ana
    # The system prompt is the same for everyone (a local model's cached prefix stays valid).
    systems = {r.messages[0]["content"] for r in fake_openai.chat_requests("extract@2")}
    assert len(systems) == 1 and "<instructions" not in systems.pop()
    for request in fake_openai.chat_requests("segment@2"):
        assert "<instructions" not in json.dumps(request.messages)


def test_a_cached_reply_is_never_reused_under_other_instructions(
    tmp_path: Path, store: Store, make_store: Any, fake_openai: FakeOpenAIServer
) -> None:
    fake_openai.script_chat("segment@2", segment_reply)
    fake_openai.script_chat("extract@2", extract_reply)
    cache = CachedLLM(OpenAICompatibleLLM(fake_openai.base_url, "fake-model"), tmp_path / "c.db")

    def run(instructions: str, user: str = "") -> int:
        """Derive m1 into a fresh store; return the extraction requests that reached the model."""
        before = len(fake_openai.chat_requests("extract@2"))
        mem = Memory.open(
            config=config(fake_openai, instructions), store=make_store(), llm=cache,
            clock=FixedClock(),
        )  # fmt: skip
        if user:
            mem.set_instructions(USER, user)
        add(mem, "m1")
        return len(fake_openai.chat_requests("extract@2")) - before

    assert run("Remember dietary needs.") == 1
    assert run("Remember dietary needs.") == 0  # the same request: served from the cache
    assert run("Remember travel plans.") == 1  # other deployment instructions: a new request
    assert run("Remember travel plans.", user="Ignore small talk.") == 1  # other user's too
    assert run("") == 1
    # Segmentation shows no instructions: one miss, then four hits. Extraction: four misses
    # (one per set of instructions) and the one hit above.
    assert (cache.hits, cache.misses) == (4 + 1, 1 + 4)
    cache.close()
    fingerprints = {
        config(fake_openai, text).fingerprint()
        for text in ("", "Remember dietary needs.", "Remember travel plans.")
    }
    assert len(fingerprints) == 3
