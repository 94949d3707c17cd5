"""The full-mode write path end to end over :class:`ScriptedLLM`.

Every model reply here is hand-authored JSON (or a small template filled per request), written
to exercise one rule of :func:`tmem.ingest.derive.derive`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tmem.config import WriteConfig
from tmem.errors import LLMTimeoutError
from tmem.ingest.derive import Derivation, derive, reference_call_count
from tmem.llm.base import LLMRequest
from tmem.llm.prompts import extract as extract_prompt
from tmem.llm.prompts import segment as segment_prompt
from tmem.llm.replay import ScriptedLLM
from tmem.models import Item, Scene, Turn
from tmem.persona import PersonaDelta
from tmem.store.base import Supersession

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
NOW = datetime(2024, 4, 1, tzinfo=UTC)
FACETS = {
    "situation": "Two friends catch up about hobbies over coffee.",
    "object": "A newly booked evening class.",
    "event": "A vague wish turns into a concrete commitment.",
    "emotion": "Nervous excitement about trying something new.",
}


def make_turns(session: str, count: int, start: datetime = T0, prefix: str = "t") -> list[Turn]:
    return [
        Turn(
            f"{prefix}{i}",
            "u",
            session,
            i,
            ("Priya", "Tom")[i % 2],
            f"Message number {i} about the {session} plans and what comes next for us.",
            start + timedelta(minutes=i),
        )
        for i in range(count)
    ]


def span(start: int, end: int, title: str = "", continues: bool = False) -> dict[str, Any]:
    return {
        "start": start,
        "end": end,
        "continues_open_scene": continues,
        "title": title or f"Priya and Tom talk about turns {start} to {end} of their plans",
        "summary": f"Priya and Tom discuss turns {start} to {end}.",
        "narrative": f"Priya told Tom about the plans in turns {start} to {end}.",
    }


def seg(*spans: dict[str, Any]) -> str:
    return json.dumps({"scenes": list(spans)})


def item(content: str, *triggers: tuple[str, str, float], **extra: Any) -> dict[str, Any]:
    return {
        "content": content,
        "temporal": "",
        "spatial": "",
        "keywords": ["k"],
        "query_patterns": ["q?"],
        "source_turns": extra.pop("source_turns", [1]),
        "triggers": [{"concept": c, "bridge": b, "confidence": x} for c, b, x in triggers],
        **extra,
    }


def ext(*items: dict[str, Any], **extra: Any) -> str:
    return json.dumps({"items": list(items), "scene": extra.pop("scene", FACETS), **extra})


GOOD_ITEM = item(
    "Priya booked a pottery course at the Elm Street studio.",
    ("craft hobby", "booked a course -> new creative routine", 0.9),
    ("weekend schedule", "Saturday class -> busy weekends", 0.8),
)


def window_size(request: LLMRequest) -> int:
    match = re.search(r"Turns to segment \(1 to (\d+)\)", request.messages[-1].content)
    assert match
    return int(match.group(1))


def scenes_of(size: int) -> Callable[[LLMRequest], str]:
    """A segmenter that cuts every window into scenes of ``size`` turns."""

    def respond(request: LLMRequest) -> str:
        count = window_size(request)
        return seg(*(span(s, min(s + size - 1, count)) for s in range(1, count + 1, size)))

    return respond


def sequence(*replies: str) -> Callable[[LLMRequest], str]:
    queue: Iterator[str] = iter(replies)
    return lambda request: next(queue)


def run(llm: ScriptedLLM, turns: Sequence[Turn], **overrides: Any) -> Derivation:
    counter = itertools.count()
    args: dict[str, Any] = {
        "user_id": "u",
        "open_scene": None,
        "open_scene_turns": (),
        "known_items": lambda text: (),
        "config": WriteConfig(),
        "now": NOW,
        "new_id": lambda prefix: f"{prefix}-{next(counter)}",
    }
    args.update(overrides)
    return derive(llm, turns, **args)


def user_texts(llm: ScriptedLLM, prompt: str) -> list[str]:
    return [r.messages[-1].content for r in llm.requests if r.prompt_id.startswith(prompt)]


def test_two_scenes_become_scenes_items_and_all_four_trigger_families() -> None:
    turns = make_turns("s1", 6)
    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 3), span(4, 6)), "extract": ext(GOOD_ITEM)})
    out = run(llm, turns)
    assert [s.source_turns for s in out.scenes] == [("t0", "t1", "t2"), ("t3", "t4", "t5")]
    assert out.scenes[0].timestamp == turns[2].timestamp
    assert out.scenes[0].provenance.method == "segment@2"
    assert dict(out.scene_of_turn) == {t.id: out.scenes[t.seq // 3].id for t in turns}
    assert len(out.items) == 2 and out.items[1].scene_ids == (out.scenes[1].id,)
    assert out.items[1].source_turns == ("t3",)
    assert out.items[0].provenance.method == "extract@2"
    assert sorted({t.family for t in out.triggers}) == ["bridge", "entity", "scene"]
    entity = [t for t in out.triggers if t.family == "entity"]
    # The same concepts from both scenes merged into one trigger reaching both items.
    assert [(t.text, len(t.targets)) for t in entity] == [
        ("craft hobby", 2),
        ("weekend schedule", 2),
    ]
    assert out.usage.calls == 3 and llm.calls == 3
    assert not out.failures and not out.failed_turns


def test_gap_then_short_coverage_is_retried_with_the_error() -> None:
    turns = make_turns("s1", 6)
    llm = ScriptedLLM.by_prompt(
        {
            "segment": sequence(
                seg(span(1, 2), span(4, 6)),  # gap: rejected by validation, retried in-call
                seg(span(1, 2), span(3, 5)),  # valid alone but misses turn 6: retried with feedback
                seg(span(1, 2), span(3, 6)),
            ),
            "extract": ext(GOOD_ITEM),
        }
    )
    out = run(llm, turns)
    prompts = [r for r in llm.requests if r.prompt_id == "segment@2"]
    assert len(prompts) == 3
    assert "leaves a gap" in prompts[1].messages[-1].content
    assert (
        "the scenes end at turn 5 but the turns run from 1 to 6" in prompts[2].messages[-1].content
    )
    assert [len(s.source_turns) for s in out.scenes] == [2, 4]
    assert not out.failures


def test_unfixable_coverage_falls_back_to_one_scene_and_loses_no_turn() -> None:
    turns = make_turns("s1", 5)
    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 2)), "extract": ext(GOOD_ITEM)})
    out = run(llm, turns)
    assert len(out.scenes) == 1 and out.scenes[0].source_turns == tuple(t.id for t in turns)
    assert out.scenes[0].provenance.method == "heuristic"
    assert "Priya said: Message number 0" in out.scenes[0].narrative
    assert [(f.stage, f.prompt_id) for f in out.failures] == [("segment", "segment@2")]
    assert out.failures[0].turn_ids == tuple(t.id for t in turns)
    assert len(out.items) == 1 and not out.failed_turns  # extraction still ran


def test_open_scene_continues_across_sessions() -> None:
    old_turns = make_turns("s1", 4, prefix="old")
    open_scene = Scene(
        "scn-open",
        "u",
        "Priya plans a pottery course",
        "Priya plans.",
        "Priya planned a pottery course.",
        old_turns[-1].timestamp,
        tuple(t.id for t in old_turns),
        ("s1",),
        ("Priya", "Tom"),
    )
    new_turns = make_turns("s2", 6, start=T0 + timedelta(days=3))
    llm = ScriptedLLM.by_prompt(
        {
            "segment": seg(
                span(
                    1,
                    3,
                    "Priya books and starts the pottery course she planned days ago",
                    continues=True,
                ),
                span(4, 6),
            ),
            "extract": ext(GOOD_ITEM),
        }
    )
    out = run(llm, new_turns, open_scene=open_scene, open_scene_turns=old_turns)
    continued, fresh = out.scenes
    assert continued.id == "scn-open"
    assert continued.source_turns == (*open_scene.source_turns, "t0", "t1", "t2")
    assert continued.session_ids == ("s1", "s2")
    assert continued.title.startswith("Priya books and starts")
    assert continued.narrative.startswith("Priya planned a pottery course. Priya told Tom")
    assert fresh.id != "scn-open" and fresh.source_turns == ("t3", "t4", "t5")
    assert dict(out.scene_of_turn)["t2"] == "scn-open"
    segment_prompt = user_texts(llm, "segment")[0]
    assert "Title: Priya plans a pottery course" in segment_prompt
    assert "(gap: days)" in segment_prompt
    # Only the continued scene's chunk shows earlier turns: the open scene's last ones.
    with_context = [t for t in user_texts(llm, "extract") if "Earlier turns (context only):" in t]
    assert len(with_context) == 1
    assert "Message number 3 about the s1 plans" in with_context[0]


def test_windows_continue_each_other() -> None:
    turns = make_turns("s1", 12)
    llm = ScriptedLLM.by_prompt(
        {
            "segment": sequence(seg(span(1, 6)), seg(span(1, 2, continues=True), span(3, 6))),
            "extract": ext(GOOD_ITEM),
        }
    )
    out = run(llm, turns, config=WriteConfig(segment_window_turns=6))
    assert [len(s.source_turns) for s in out.scenes] == [8, 4]
    # The second window's first turn is timed against the first window's last turn.
    assert "[1] 2024-03-04 09:06 (Mon) (gap: minutes) Priya" in user_texts(llm, "segment")[1]
    assert "Open scene (the numbered turns may continue it)" in user_texts(llm, "segment")[1]


def test_long_scene_is_chunked_and_every_chunk_gets_scene_triggers() -> None:
    turns = make_turns("s1", 25)
    horizon = {"GOAL_ARC": {"sent": "A weekly class may collide with overtime.", "confidence": 0.7}}

    def extract(request: LLMRequest) -> str:
        first = re.search(r"^\[1\] .*?Message number (\d+)", request.messages[-1].content, re.M)
        assert first
        return ext(item(f"Priya said message {first.group(1)} about her plans."), horizon=horizon)

    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 25)), "extract": extract})
    out = run(llm, turns)
    extracts = user_texts(llm, "extract")
    assert len(extracts) == 3
    sizes = [len(re.findall(r"^\[\d+\]", text, re.MULTILINE)) for text in extracts]
    assert sorted(sizes) == [8, 8, 9]  # calls run concurrently, so requests arrive in any order
    scene_id = out.scenes[0].id
    scene_triggers = [t for t in out.triggers if t.family in ("scene", "horizon")]
    assert len([t for t in scene_triggers if t.family == "scene"]) == 12
    assert len([t for t in scene_triggers if t.family == "horizon"]) == 3
    assert {t.targets for t in scene_triggers} == {((scene_id, 1.0),), ((scene_id, 0.7),)}
    assert out.items[1].source_turns == ("t9",)  # chunk 2's turn 1


def test_copies_and_restatements_are_rejected_and_counted() -> None:
    turns = make_turns("s1", 2)
    copied = dict(FACETS, event=turns[0].content)
    horizon = {
        "LEGACY_ANCHOR": {"sent": turns[1].text, "confidence": 0.9},
        "GOAL_ARC": {"sent": None, "confidence": 0},
        "PERSONAL_ARC": {"sent": "Priya grows more confident.", "confidence": 0.2},
    }
    restating = item(
        "Priya booked a pottery course.",
        ("Priya booked pottery course", "", 0.9),
        ("craft hobby", "", 0.9),
    )
    llm = ScriptedLLM.by_prompt(
        {"segment": seg(span(1, 2)), "extract": ext(restating, scene=copied, horizon=horizon)}
    )
    out = run(llm, turns)
    assert out.rejected_triggers == 3
    texts = {t.text for t in out.triggers}
    assert texts == {"craft hobby", FACETS["situation"], FACETS["object"], FACETS["emotion"]}


def test_supersedes_maps_known_fact_labels_to_item_ids() -> None:
    turns = make_turns("s1", 2)
    old = Item("itm-old", "u", "Sam works at the warehouse.", T0, ("scn-0",), ("x",))
    seen: list[str] = []

    def known(text: str) -> list[Item]:
        seen.append(text)
        return [old]

    update = item("Sam left the warehouse.", supersedes=["F1", "F7", "itm-old"])
    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 2)), "extract": ext(update)})
    out = run(llm, turns, known_items=known)
    assert out.supersessions == (
        Supersession("itm-old", out.items[0].id, "replaced by a newer statement"),
    )
    assert seen == [f"{out.scenes[0].title}\n{out.scenes[0].summary}"]
    assert "F1: Sam works at the warehouse." in user_texts(llm, "extract")[0]
    off = run(llm, turns, known_items=known, config=WriteConfig(supersede=False))
    assert off.supersessions == ()


def test_a_failed_extraction_records_failure_and_keeps_other_scenes() -> None:
    turns = make_turns("s1", 6)

    def extract(request: LLMRequest) -> str:
        bad = "Broken scene" in request.messages[1].content
        return '{"items": "not a list"}' if bad else ext(GOOD_ITEM)

    llm = ScriptedLLM.by_prompt(
        {
            "segment": seg(span(1, 3), span(4, 6, "Broken scene where the extraction model fails")),
            "extract": extract,
        }
    )
    out = run(llm, turns)
    assert len(out.scenes) == 2 and len(out.items) == 1
    assert out.items[0].scene_ids == (out.scenes[0].id,)
    assert [(f.stage, f.prompt_id, f.turn_ids) for f in out.failures] == [
        ("extract", "extract@2", ("t3", "t4", "t5"))
    ]
    assert out.failed_turns == ("t3", "t4", "t5")
    assert out.usage.calls == 1 + 1 + 3  # segment, good extract, bad extract with 2 retries
    assert {target for t in out.triggers for target, _ in t.targets} <= {
        out.items[0].id,
        out.scenes[0].id,
        out.scenes[1].id,
    } and out.triggers


def test_backend_errors_never_raise_or_lose_turns() -> None:
    turns = make_turns("s1", 4)

    def down(request: LLMRequest) -> str:
        raise LLMTimeoutError("server timed out")

    out = run(ScriptedLLM(down), turns)
    assert [f.stage for f in out.failures] == ["segment", "extract"]
    assert "LLMTimeoutError" in out.failures[1].error
    assert out.failed_turns == tuple(t.id for t in turns)
    assert len(out.scenes) == 1 and len(out.scene_of_turn) == 4


def test_persona_deltas_are_what_the_extraction_stated_about_its_turns() -> None:
    turns = make_turns("s1", 2)
    persona = [
        {
            "speaker": "Priya",
            "identity": {"occupation": "designer", "shoe": "6"},
            "preferences": {"hobbies": ["pottery"]},
        }
    ]
    llm = ScriptedLLM.by_prompt(
        {"segment": seg(span(1, 2)), "extract": ext(GOOD_ITEM, persona=persona)}
    )
    out = run(llm, turns)
    # The write merges them into the stored entries (tmem.persona.merge_entries), so a pin
    # or a hand edit made while the model was busy is respected.
    assert out.persona_deltas == (
        PersonaDelta(
            "Priya",
            identity=(("occupation", "designer"), ("shoe", "6")),
            preferences=(("hobbies", ("pottery",)),),
            source_turns=tuple(t.id for t in turns),
        ),
    )
    assert run(llm, turns, config=WriteConfig(persona=False)).persona_deltas == ()


def test_instructions_reach_every_extraction_call_fenced_before_the_turns() -> None:
    turns = make_turns("s1", 12)
    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 12)), "extract": ext(GOOD_ITEM)})
    config = WriteConfig(instructions="Keep dietary needs.", trigger_chunk_turns=6)
    run(llm, turns, config=config, user_instructions="Ignore small talk.")
    prompts = user_texts(llm, "extract")
    assert len(prompts) == 2
    for text in prompts:
        assert '<instructions from="operator">\nKeep dietary needs.\n</instructions>' in text
        assert '<instructions from="user">\nIgnore small talk.\n</instructions>' in text
        assert "the operator's win" in text
        assert text.rindex("</instructions>") < text.index("Turns to extract from")
    assert all("<instructions" not in t for t in user_texts(llm, "segment"))
    run(llm, turns)
    assert all("<instructions" not in t for t in user_texts(llm, "extract")[2:])


def test_no_turns_costs_nothing() -> None:
    llm = ScriptedLLM(lambda request: "")
    assert run(llm, []).usage.calls == 0 and llm.calls == 0


def test_reference_call_count_prices_the_reference_pattern() -> None:
    turns = make_turns("s1", 30)
    short = Scene("a", "u", "t", "s", "n", T0, tuple(t.id for t in turns[:10]), ("s1",))
    long = Scene("b", "u", "t", "s", "n", T0, tuple(t.id for t in turns[10:]), ("s1",))
    items = [Item(f"i{n}", "u", "c", T0, ("a",), ("t0",)) for n in range(7)]
    # 30 boundary + 2 scene writes + 2 item calls + 1 Scene/Horizon (short scene) + 7 EB.
    assert reference_call_count(turns, [short, long], items) == 42


def test_replies_that_echo_the_prompt_example_are_not_stored() -> None:
    turns = make_turns("s1", 4)
    echoed_span = dict(span(3, 4), narrative=segment_prompt.EXAMPLE_TEXTS[2])
    example_item = item(extract_prompt.EXAMPLE_TEXTS[0])
    horizon = {"LEGACY_ANCHOR": {"sent": extract_prompt.EXAMPLE_TEXTS[-1], "confidence": 0.9}}
    llm = ScriptedLLM.by_prompt(
        {
            "segment": seg(span(1, 2), echoed_span),
            "extract": ext(GOOD_ITEM, example_item, horizon=horizon),
        }
    )
    out = run(llm, turns)
    assert out.scenes[1].narrative.startswith("Priya said: Message number 2")
    assert out.scenes[1].provenance.method == "segment@2"
    assert [(f.stage, f.turn_ids) for f in out.failures] == [("segment", ("t2", "t3"))]
    assert "copied the prompt's example" in out.failures[0].error
    assert out.rejected_items == 2  # the example fact, once per scene
    assert {i.content for i in out.items} == {GOOD_ITEM["content"]}
    assert out.rejected_triggers == 2 and "horizon" not in {t.family for t in out.triggers}


def test_items_that_copy_the_scene_header_are_not_stored() -> None:
    """Qwen2.5-Coder-1.5B returned the scene summary the prompt shows as an item, twice."""
    turns = make_turns("s1", 2)
    header = item("Priya and Tom discuss turns 1 to 2.")  # span(1, 2)'s summary
    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 2)), "extract": ext(header, GOOD_ITEM)})
    out = run(llm, turns)
    assert {i.content for i in out.items} == {GOOD_ITEM["content"]}
    assert out.rejected_items == 1


def test_the_one_fact_of_a_one_turn_scene_may_say_what_its_summary_says() -> None:
    """A capable model summarises a one-turn scene by its one fact: that item is kept."""
    turns = make_turns("s1", 1)
    fact = item("Priya and Tom discuss turns 1 to 1.", source_turns=[1])  # span(1, 1)'s summary
    llm = ScriptedLLM.by_prompt({"segment": seg(span(1, 1)), "extract": ext(fact)})
    out = run(llm, turns)
    assert [i.content for i in out.items] == [fact["content"]]
    assert out.rejected_items == 0


def test_without_output_retries_each_invalid_reply_costs_one_call() -> None:
    turns = make_turns("s1", 6)
    llm = ScriptedLLM.by_prompt({"segment": '{"scenes": "truncated', "extract": '{"items": 3}'})
    out = run(llm, turns, retries=0)
    # One segment call (window falls back to one scene), one extract call for that scene.
    assert [r.prompt_id for r in llm.requests] == ["segment@2", "extract@2"]
    assert out.usage.calls == 2
    assert [f.stage for f in out.failures] == ["segment", "extract"]
    assert len(out.scenes) == 1 and out.scenes[0].source_turns == tuple(t.id for t in turns)
    default = ScriptedLLM.by_prompt({"segment": '{"scenes": "truncated', "extract": '{"items": 3}'})
    run(default, turns)
    assert [r.prompt_id for r in default.requests] == ["segment@2"] * 3 + ["extract@2"] * 3
