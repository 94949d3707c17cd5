"""LLM call budget of the full-mode write path against T-Mem's reference pattern.

Replies are templates filled per request (hand-authored JSON shapes): the segmenter cuts each
window into scenes of eight turns, continuing the open scene at a session start; the extractor
returns four items with five triggers each per chunk, the reference's density (spec §1.3).
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta

from tmem.config import WriteConfig
from tmem.ingest.derive import derive, reference_call_count
from tmem.llm.base import LLMRequest
from tmem.llm.replay import ScriptedLLM
from tmem.models import Item, Scene, Turn

T0 = datetime(2023, 5, 8, 13, 0, tzinfo=UTC)
SESSIONS = 3
TURNS_PER_SESSION = 40
SCENE_TURNS = 8


def _segment(request: LLMRequest) -> str:
    content = request.messages[-1].content
    match = re.search(r"Turns to segment \(1 to (\d+)\)", content)
    assert match
    count = int(match.group(1))
    has_open = "Open scene: none." not in content
    spans = [
        {
            "start": s,
            "end": min(s + SCENE_TURNS - 1, count),
            "continues_open_scene": s == 1 and has_open,
            "title": f"Scene starting at turn {s} of this window about the trip",
            "summary": "Two friends plan a trip.",
            "narrative": "Ana told Ben about the trip plan.",
        }
        for s in range(1, count + 1, SCENE_TURNS)
    ]
    return json.dumps({"scenes": spans})


def _extract(request: LLMRequest) -> str:
    first = re.search(r"^\[1\] .*?turn (\d+)", request.messages[-1].content, re.MULTILINE)
    assert first
    n = first.group(1)
    items = [
        {
            "content": f"Ana shared fact {k} from turn {n} about the trip.",
            "source_turns": [1],
            "triggers": [
                {
                    "concept": f"travel topic {n} {k} {j}",
                    "bridge": f"fact {k} -> plan {j}",
                    "confidence": 0.8,
                }
                for j in range(5)
            ],
        }
        for k in range(4)
    ]
    scene = {
        "situation": "Trip planning.",
        "object": "A planned trip.",
        "event": "A plan takes shape.",
        "emotion": "Anticipation.",
    }
    return json.dumps({"items": items, "scene": scene})


def test_three_sessions_cost_at_most_a_quarter_of_the_reference() -> None:
    llm = ScriptedLLM.by_prompt({"segment": _segment, "extract": _extract})
    counter = itertools.count()
    scenes: dict[str, Scene] = {}
    items: list[Item] = []
    all_turns: list[Turn] = []
    calls = 0
    for session in range(SESSIONS):
        start = T0 + timedelta(days=7 * session)
        turns = [
            Turn(
                f"s{session}t{i}",
                "u",
                f"s{session}",
                i,
                ("Ana", "Ben")[i % 2],
                f"Session {session} turn {i}: thoughts on the trip.",
                start + timedelta(seconds=30 * i),
            )
            for i in range(TURNS_PER_SESSION)
        ]
        open_scene = list(scenes.values())[-1] if scenes else None
        open_turns = [t for t in all_turns if open_scene and t.id in open_scene.source_turns]
        out = derive(
            llm,
            turns,
            user_id="u",
            open_scene=open_scene,
            open_scene_turns=open_turns,
            known_items=lambda text: items[:10],
            config=WriteConfig(),
            now=start,
            new_id=lambda p: f"{p}-{next(counter)}",
        )
        assert not out.failures
        scenes.update({s.id: s for s in out.scenes})
        items.extend(out.items)
        all_turns.extend(turns)
        calls += out.usage.calls
    reference = reference_call_count(all_turns, list(scenes.values()), items)
    assert calls == llm.calls
    assert calls * 4 <= reference, (calls, reference)
    # One scene per session start continues the previous session's last scene.
    assert len(scenes) == 5 * SESSIONS - (SESSIONS - 1)
