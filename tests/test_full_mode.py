"""Full mode end to end: the real HTTP LLM client against a fake OpenAI-compatible server.

Every LLM reply here is a hand-authored response that follows the prompts' schemas; the fake
server dispatches on the ``X-Tmem-Prompt`` header. The hash embedder makes similarity exactly a
matter of shared content words, so "shares no content word" is testable: each trigger-family
query below shares no content word with the memory's own text, scene or dialogue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tmem import Config, EmbedderConfig, LLMConfig, Memory
from tmem.models import Item, Scene

ALLERGY_TURNS = [
    {
        "id": "a1",
        "speaker": "Maya",
        "timestamp": "2025-03-03T18:04:00Z",
        "content": "Priya carries an epinephrine pen because shellfish makes her throat swell.",
    },
    {
        "id": "a2",
        "speaker": "Leo",
        "timestamp": "2025-03-03T18:05:00Z",
        "content": "Good that she said it on day one.",
    },
]
CELLO_TURNS = [
    {
        "id": "c1",
        "speaker": "Maya",
        "timestamp": "2025-03-10T09:00:00Z",
        "content": "I started cello lessons with a teacher called Ines.",
    },
    {
        "id": "c2",
        "speaker": "Leo",
        "timestamp": "2025-03-10T09:01:00Z",
        "content": "Bach suites next?",
    },
]

# Trigger texts, and queries that share words only with them (never with the memory).
ENTITY = "seafood sensitivity"
BRIDGE = "epinephrine pen -> choose restaurants without crustacean menus"
SCENE_FACET = "a newcomer confiding a medical vulnerability to coworkers"
HORIZON = "Maya will plan future group meals around dietary restrictions"
QUERIES = {
    "entity": ("What seafood sensitivity matters?", "entity"),
    "bridge": ("Which restaurants have crustacean menus?", "bridge"),
    "scene": ("Did a newcomer confide some vulnerability?", "scene"),
    "horizon": ("What about future group meals?", "horizon:GOAL_ARC"),
}


def turn_count(body: dict[str, Any]) -> int:
    text = body["messages"][-1]["content"]
    return max(int(n) for n in re.findall(r"^\[(\d+)\]", text, flags=re.M))


def numbered_turns(body: dict[str, Any]) -> str:
    """The turns the call is about, without the context before them (the open scene, known
    facts): a model describes these, so the replies are chosen by them alone."""
    text = body["messages"][-1]["content"]
    return "\n".join(re.findall(r"^\[\d+\].*$", text, flags=re.M))


def segment_reply(body: dict[str, Any]) -> str:
    """Hand-authored: the whole window is one scene."""
    n = turn_count(body)
    text = numbered_turns(body)
    title = (
        "Maya tells Leo about Priya and her epinephrine pen at work"
        if "epinephrine" in text
        else "Maya tells Leo she started cello lessons with Ines"
    )
    return json.dumps(
        {
            "scenes": [
                {
                    "start": 1,
                    "end": n,
                    "continues_open_scene": False,
                    "title": title,
                    "summary": f"{title}. Leo responds briefly.",
                    "narrative": f"On that day, {title}.",
                }
            ]
        }
    )


def extract_reply(body: dict[str, Any]) -> str:
    """Hand-authored: one item per scene; the allergy scene carries all four trigger families."""
    text = numbered_turns(body)
    if "epinephrine" in text:
        item = {
            "content": "Priya carries an epinephrine pen because shellfish makes her throat swell.",
            "keywords": ["Priya", "epinephrine", "shellfish"],
            "query_patterns": ["Who carries an epinephrine pen?"],
            "source_turns": [1],
            "triggers": [{"concept": ENTITY, "bridge": BRIDGE, "confidence": 0.9}],
        }
        facets = {
            "situation": SCENE_FACET,
            "object": "an epinephrine pen",
            "event": "a disclosure on the first day",
            "emotion": "quiet relief",
        }
        horizon = {"GOAL_ARC": {"sent": HORIZON, "confidence": 0.8}}
    else:
        item = {
            "content": "Maya started cello lessons with a teacher called Ines.",
            "keywords": ["cello", "Ines"],
            "source_turns": [1],
            "triggers": [],
        }
        facets = {
            "situation": "a hobby update between friends",
            "object": "a cello",
            "event": "starting lessons",
            "emotion": "eagerness",
        }
        horizon = {}
    return json.dumps({"items": [item], "scene": facets, "horizon": horizon, "persona": []})


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        fake.script_chat("segment@2", segment_reply)
        fake.script_chat("extract@2", extract_reply)
        yield fake


def config_for(server: FakeOpenAIServer, **retrieval: Any) -> Config:
    config = Config(
        llm=LLMConfig(base_url=server.base_url, model="fake-model", max_retries=1),
        embedder=EmbedderConfig(kind="hash"),
    )
    return replace(config, retrieval=replace(config.retrieval, **retrieval))


def build(path: Path, config: Config) -> Memory:
    mem = Memory.open(path, config)
    mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1")
    mem.add(CELLO_TURNS, user_id="maya", session_id="s2")
    return mem


def test_full_mode_writes_scenes_items_and_all_trigger_families(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    mem = Memory.open(tmp_path / "m.db", config_for(server))
    report = mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1")
    assert report.mode == "full" and report.ok, report.failures
    assert (report.scenes, report.items) == (1, 1)
    assert report.triggers["entity"] == 1 and report.triggers["bridge"] == 1
    assert report.triggers["scene"] == 4 and report.triggers["horizon"] == 1
    assert report.llm_calls == 2  # one segmentation call, one extraction call
    assert report.usage.prompt_tokens > 0
    (scene,) = [r for r in mem.list("maya", "scene") if isinstance(r, Scene)]
    assert scene.source_turns == ("a1", "a2")
    assert scene.provenance.method == "segment@2" and scene.provenance.model == "fake-model"
    (item,) = [r for r in mem.list("maya", "item") if isinstance(r, Item)]
    assert item.source_turns == ("a1",) and item.scene_ids == (scene.id,)
    assert {r.prompt_id for r in server.chat_requests()} == {"segment@2", "extract@2"}
    mem.close()


@pytest.mark.parametrize("family", sorted(QUERIES))
def test_each_trigger_family_reaches_a_memory_that_shares_no_word_with_the_query(
    tmp_path: Path, server: FakeOpenAIServer, family: str
) -> None:
    query, label = QUERIES[family]
    with build(tmp_path / "on.db", config_for(server)) as mem:
        hits = mem.search(query, user_id="maya")
        reached = [h for h in hits if "a1" in h.source_turns and label in h.reached_by]
        assert reached, [(h.id, h.reached_by) for h in hits]
        # Nothing but the trigger links them: no dense or BM25 channel found it.
        assert not {"dense", "bm25", "dialogue"} & set(reached[0].reached_by)

    families = tuple(f for f in ("entity", "bridge", "scene", "horizon") if f != family)
    with build(tmp_path / "off.db", config_for(server, families=families)) as mem:
        hits = mem.search(query, user_id="maya")
        assert not [h for h in hits if "a1" in h.source_turns], [(h.id, h.reached_by) for h in hits]


def test_answer_sees_evidence_never_triggers(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.script_chat("answer@2", json.dumps({"reasoning": "Fact 1 says so.", "answer": "Priya"}))
    with build(tmp_path / "a.db", config_for(server)) as mem:
        answer = mem.answer("Who carries an epinephrine pen?", user_id="maya")
    assert answer.text == "Priya"
    assert answer.usage.calls == 1
    assert any("a1" in h.source_turns for h in answer.hits)
    (request,) = server.chat_requests("answer@2")
    prompt = request.messages[-1]["content"]
    assert "epinephrine pen because shellfish" in prompt
    for trigger_text in (ENTITY, BRIDGE, SCENE_FACET, HORIZON):
        assert trigger_text not in prompt


def test_a_contradicting_fact_supersedes_the_old_one(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    def extract(body: dict[str, Any]) -> str:
        text = body["messages"][-1]["content"]
        if "Lisbon" in text:
            label = re.search(r"^(F\d+): Maya lives in Porto", text, flags=re.M)
            supersedes = [label.group(1)] if label else []
            content = "Maya moved from Porto to Lisbon for a new job."
        else:
            supersedes, content = [], "Maya lives in Porto near the river."
        return json.dumps(
            {
                "items": [
                    {
                        "content": content,
                        "keywords": ["Maya", "home"],
                        "source_turns": [1],
                        "supersedes": supersedes,
                    }
                ],
                "scene": {
                    "situation": "news about home",
                    "object": "an apartment",
                    "event": "a move",
                    "emotion": "excitement",
                },
            }
        )

    server.script_chat("extract@2", extract)
    with Memory.open(tmp_path / "s.db", config_for(server)) as mem:
        mem.add(
            [
                {
                    "id": "p1",
                    "speaker": "Maya",
                    "content": "I live in Porto near the river.",
                    "timestamp": "2025-01-01T10:00:00Z",
                }
            ],
            user_id="maya",
            session_id="s1",
        )
        report = mem.add(
            [
                {
                    "id": "p2",
                    "speaker": "Maya",
                    "content": "I moved to Lisbon for a job.",
                    "timestamp": "2025-06-01T10:00:00Z",
                }
            ],
            user_id="maya",
            session_id="s2",
        )
        assert report.superseded == 1
        items = {
            i.content: i
            for i in mem.store.list("maya", "item", include_superseded=True)
            if isinstance(i, Item)
        }
        old = items["Maya lives in Porto near the river."]
        new = items["Maya moved from Porto to Lisbon for a new job."]
        assert old.status == "superseded" and old.superseded_by == new.id
        hits = mem.search("Where does Maya live, Porto?", user_id="maya", limit=20)
        assert new.id in {h.id for h in hits} and old.id not in {h.id for h in hits}
        assert [e.event for e in mem.history(old.id, "maya")][-1] == "superseded"


def test_failed_extraction_keeps_turns_and_reindex_recovers(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    server.script_chat("extract@2", "this is not JSON at all")
    with Memory.open(tmp_path / "f.db", config_for(server)) as mem:
        report = mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1")
        assert not report.ok
        assert report.failures[0].prompt_id == "extract@2"
        assert {t.id for t in mem.store.pending_turns("maya")} == {"a1", "a2"}
        assert [t.id for t in mem.list("maya", "turn")] == ["a1", "a2"]

        server.script_chat("extract@2", extract_reply)
        again = mem.reindex("maya")
        assert again.ok and again.items == 1
        assert mem.store.pending_turns("maya") == []
        assert any("entity" in h.reached_by for h in mem.search(QUERIES["entity"][0], "maya"))


def test_unreachable_llm_loses_no_turns(tmp_path: Path) -> None:
    config = Config(
        llm=LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, timeout_s=2),
        embedder=EmbedderConfig(kind="hash"),
    )
    with Memory.open(tmp_path / "u.db", config) as mem:
        report = mem.add(ALLERGY_TURNS, user_id="maya")
        assert not report.ok
        assert [t.id for t in mem.list("maya", "turn")] == ["a1", "a2"]
        assert {t.id for t in mem.store.pending_turns("maya")} == {"a1", "a2"}


def test_turns_stay_searchable_while_the_llm_is_down(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = tmp_path / "d.db"
    build(path, config_for(server)).close()
    down = Config(
        llm=LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, timeout_s=2),
        embedder=EmbedderConfig(kind="hash"),
    )
    kayak = [
        {
            "id": "k1",
            "speaker": "Maya",
            "timestamp": "2025-04-01T10:00:00Z",
            "content": "I booked a kayak trip along the fjord for June.",
        }
    ]
    with Memory.open(path, down) as mem:
        assert not mem.add(kayak, user_id="maya", session_id="s3").ok
        hits = mem.search("Maya kayak fjord trip, and Priya's epinephrine pen?", "maya")
        assert "k1" in {turn for hit in hits for turn in hit.source_turns}


def test_turns_of_a_failed_extraction_stay_searchable(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    with build(tmp_path / "e.db", config_for(server)) as mem:
        server.script_chat("extract@2", "this is not JSON at all")
        kayak = [
            {
                "id": "k1",
                "speaker": "Maya",
                "timestamp": "2025-04-01T10:00:00Z",
                "content": "I booked a kayak trip along the fjord for June.",
            }
        ]
        assert not mem.add(kayak, user_id="maya", session_id="s3").ok
        assert [t.id for t in mem.store.pending_turns("maya")] == ["k1"]
        hits = mem.search("Maya kayak fjord trip, and Priya's epinephrine pen?", "maya")
        assert "k1" in {turn for hit in hits for turn in hit.source_turns}
        # Its scene was segmented, so the scene may stand in for it; the turn ranks it as before.
        k1 = [h for h in hits if "k1" in h.source_turns]
        assert k1 and k1[0].kind in ("turn", "scene")


def test_turns_whose_segmented_scene_failed_extraction_wait_as_turns(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    """Segmented but not extracted: the scene is searched, and the turns are still stated as
    turns (with their context vectors) until an item states them."""
    server.script_chat("extract@2", "this is not JSON at all")
    with Memory.open(tmp_path / "x.db", config_for(server)) as mem:
        assert not mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1").ok
        (segmented,) = mem.list("maya", "scene")
        assert segmented.provenance.method != "heuristic"  # the model did segment the window
        hits = mem.search("Priya epinephrine pen shellfish", "maya")
        assert "a1" in hits[0].source_turns  # the top turn's floor: rank 1

        server.script_chat("extract@2", extract_reply)
        assert mem.reindex("maya").ok
        assert mem.store.pending_turns("maya") == []
        probe = mem.embedder.embed(["Priya epinephrine pen shellfish"])[0]
        kept = {s.id for s in mem.store.search_vectors("maya", "context", probe, 10)}
        assert kept == {"a1", "a2"}  # context vectors stay with their turns for life
        hits = mem.search("Priya epinephrine pen shellfish", "maya")
        assert "a1" in hits[0].source_turns
        stated = [h for h in hits if h.kind != "scene" and "a1" in h.source_turns]
        assert [h.kind for h in stated] == ["item"]  # the fact, not the turn again


def _scenes_holding(mem: Memory, turn_id: str) -> list[str]:
    return [s.id for s in mem.list("maya", "scene") if turn_id in s.source_turns]


def test_reindex_replaces_a_fallback_scene_instead_of_adding_a_twin(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = tmp_path / "r.db"
    down = Config(
        llm=LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, timeout_s=2),
        embedder=EmbedderConfig(kind="hash"),
    )
    with Memory.open(path, down) as mem:
        mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1")
        (fallback,) = _scenes_holding(mem, "a1")
    with Memory.open(path, config_for(server)) as mem:
        assert mem.reindex("maya").ok
        (derived,) = _scenes_holding(mem, "a1")
        assert derived != fallback and mem.store.get("maya", fallback) is None
        scenes = [h for h in mem.search("Priya epinephrine pen", "maya") if h.kind == "scene"]
        assert [h.id for h in scenes] == [derived]


def test_turns_stored_without_an_llm_stay_searchable_after_switching_to_full_mode(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    path = tmp_path / "s.db"
    with Memory.open(path, Config(embedder=EmbedderConfig(kind="hash"))) as mem:
        mem.add(CELLO_TURNS, user_id="maya", session_id="s0")
    with Memory.open(path, config_for(server)) as mem:
        assert mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1").ok
        hits = mem.search("Maya cello lessons with Ines, and Priya?", "maya")
        assert "c1" in {turn for hit in hits for turn in hit.source_turns}
        assert mem.reindex("maya").ok
        assert len(_scenes_holding(mem, "c1")) == 1


def test_deferred_adds_cost_no_call_stay_searchable_and_reindex_derives_them_at_once(
    tmp_path: Path, server: FakeOpenAIServer
) -> None:
    with Memory.open(tmp_path / "w.db", config_for(server)) as mem:
        assert mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1").ok
        calls = len(server.chat_requests())
        for message in CELLO_TURNS:  # one add per message, as an agent would
            report = mem.add([message], user_id="maya", session_id="s2", derive=False)
            assert report.ok and report.llm_calls == 0
        assert len(server.chat_requests()) == calls
        hits = mem.search("Maya cello lessons with Ines, and Priya?", "maya")
        waiting = [h for h in hits if "c1" in h.source_turns]
        assert [(h.kind, h.id) for h in waiting] == [("turn", "c1")]  # the turn, not its scene
        assert {"context", "bm25"} <= set(waiting[0].reached_by)

        derived = mem.reindex("maya")
        assert derived.ok and derived.turns == 2 and derived.items == 1
        assert len(server.chat_requests("segment@2")) == 2  # one for s1, one for both waiting
        assert len(_scenes_holding(mem, "c1")) == 1
        assert mem.reindex("maya").turns == 0
        hits = mem.search("Maya cello lessons with Ines, and Priya?", "maya")
        assert "c1" in {t for h in hits for t in h.source_turns}
        # Derived now: stated by its item, never again as the raw turn.
        assert [h.kind for h in hits if h.kind != "scene" and "c1" in h.source_turns] == ["item"]


def test_a_user_without_any_extracted_fact_is_searched_turn_by_turn(tmp_path: Path) -> None:
    down = Config(
        llm=LLMConfig(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, timeout_s=2),
        embedder=EmbedderConfig(kind="hash"),
    )
    with Memory.open(tmp_path / "t.db", down) as mem:
        mem.add(ALLERGY_TURNS, user_id="maya", session_id="s1")
        mem.add(CELLO_TURNS, user_id="maya", session_id="s2")
        assert len(mem.list("maya", "scene")) == 2  # one fallback scene per session
        hits = mem.search("cello teacher Ines", "maya")
        assert [(h.kind, h.id) for h in hits[:1]] == [("turn", "c1")]
