"""Full-mode write cost: LLM calls and tokens per ingested turn, against T-Mem's reference.

Counts, not a model: a :class:`~tmem.llm.replay.ScriptedLLM` answers every prompt with a
well-formed reply of the reference's density (scenes of eight turns, four items per scene with
five Entity/Bridge triggers each), and :func:`tmem.ingest.derive.reference_call_count` prices
the reference call pattern on the scenes and items that came out.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from tmem.clock import SystemClock
from tmem.config import Config
from tmem.embed.hashing import HashEmbedder
from tmem.eval.speed.generate import conversation
from tmem.ingest.derive import reference_call_count
from tmem.llm.base import LLMRequest
from tmem.llm.replay import ScriptedLLM
from tmem.memory import Memory
from tmem.models import Item, Scene, Turn, Usage
from tmem.store.sqlite import SQLiteStore

SCENE_TURNS = 8
ITEMS_PER_SCENE = 4
TRIGGERS_PER_ITEM = 5


def _segment(request: LLMRequest) -> str:
    content = request.messages[-1].content
    match = re.search(r"\(1 to (\d+)\)", content)
    count = int(match.group(1)) if match else 1
    has_open = "Open scene: none." not in content
    return json.dumps(
        {
            "scenes": [
                {
                    "start": start,
                    "end": min(start + SCENE_TURNS - 1, count),
                    "continues_open_scene": start == 1 and has_open,
                    "title": f"Friends catch up, part starting at turn {start}",
                    "summary": "Two friends share news about hobbies and plans.",
                    "narrative": "They talked about hobbies, purchases and trips.",
                }
                for start in range(1, count + 1, SCENE_TURNS)
            ]
        }
    )


def _extract(request: LLMRequest) -> str:
    seen = len(request.messages[-1].content) % 997
    items = [
        {
            "content": f"Fact {k} ({seen}) one friend shared about a hobby.",
            "source_turns": [1],
            "triggers": [
                {
                    "concept": f"hobby topic {seen} {k} {j}",
                    "bridge": f"fact {k} -> plan {j}",
                    "confidence": 0.8,
                }
                for j in range(TRIGGERS_PER_ITEM)
            ],
        }
        for k in range(ITEMS_PER_SCENE)
    ]
    scene = {"situation": "Catching up.", "object": "A hobby.", "event": "News.",
             "emotion": "Warmth."}  # fmt: skip
    return json.dumps({"items": items, "scene": scene})


Pattern = Literal["session", "exchange", "deferred"]
EXCHANGE_TURNS = 2


def _ingest(memory: Memory, session: list[Any], session_id: str, pattern: Pattern) -> Usage:
    """Add one session as ``pattern`` says; the LLM usage it cost."""
    if pattern == "session":
        return memory.add(session, "cost", session_id=session_id).usage
    usage = Usage()
    derive = pattern == "exchange"
    for start in range(0, len(session), EXCHANGE_TURNS):
        exchange = session[start : start + EXCHANGE_TURNS]
        usage += memory.add(exchange, "cost", session_id=session_id, derive=derive).usage
    if not derive:
        usage += memory.reindex("cost").usage
    return usage


def full_mode_cost(
    turns: int, *, seed: int = 7, session_turns: int = 40, pattern: Pattern = "session"
) -> dict[str, Any]:
    """Ingest ``turns`` generated turns in full mode with scripted replies; count the cost.

    ``pattern``: ``session`` adds each session at once; ``exchange`` adds every two turns as
    they happen; ``deferred`` adds every two turns with ``derive=False`` and reindexes when
    the session ends.
    """
    llm = ScriptedLLM.by_prompt({"segment": _segment, "extract": _extract})
    store = SQLiteStore(":memory:")
    memory = Memory(store, HashEmbedder(), llm, Config(), SystemClock())
    try:
        usage = Usage()
        for i, session in enumerate(conversation(seed, "cost", turns, session_turns)):
            usage += _ingest(memory, session, f"s{i}", pattern)
        records = store.list("cost")
    finally:
        memory.close()
    stored = [r for r in records if isinstance(r, Turn)]
    scenes = [r for r in records if isinstance(r, Scene)]
    items = [r for r in records if isinstance(r, Item)]
    reference = reference_call_count(stored, scenes, items)
    calls, tokens = usage.calls, usage.prompt_tokens + usage.completion_tokens
    return {
        "pattern": pattern,
        "turns": len(stored),
        "scenes": len(scenes),
        "items": len(items),
        "calls": calls,
        "calls_per_turn": round(calls / max(len(stored), 1), 4),
        "tokens_per_turn": round(tokens / max(len(stored), 1), 1),
        "reference_calls": reference,
        "reference_calls_per_turn": round(reference / max(len(stored), 1), 4),
        "ratio": round(calls / reference, 4) if reference else 0.0,
    }
