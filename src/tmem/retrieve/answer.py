"""Answering: retrieved evidence (never triggers) plus persona, through the answer prompt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tmem.llm.base import LLM
from tmem.llm.prompts.answer import SPEC, AnswerInputs
from tmem.llm.structured import call_structured
from tmem.models import HEURISTIC, Answer, Hit, Item, PersonaProfile, Record, Scene, Turn
from tmem.persona import render_profile


def answer_question(
    llm: LLM,
    question: str,
    hits: Sequence[Hit],
    records: dict[str, Record],
    personas: Sequence[PersonaProfile],
    now: datetime,
) -> Answer:
    """Ask the LLM to answer ``question`` from the records behind ``hits``."""
    scenes: list[Scene] = []
    items: list[Item] = []
    for hit in hits:
        record = records.get(hit.id)
        if isinstance(record, Scene):
            scenes.append(record)
        elif isinstance(record, Item):
            items.append(record)
        elif isinstance(record, Turn):
            scenes.append(_turn_as_scene(record))
    inputs = AnswerInputs(
        question=question,
        scenes=tuple(scenes),
        items=tuple(items),
        personas=tuple(render_profile(p) for p in personas),
    )
    result = call_structured(llm, SPEC, inputs, now)
    return Answer(text=result.value.answer, hits=tuple(hits), usage=result.usage)


def _turn_as_scene(turn: Turn) -> Scene:
    """A raw turn shown as a one-line memory (users whose turns were never derived)."""
    return Scene(
        id=turn.id,
        user_id=turn.user_id,
        title=f"{turn.speaker} said",
        summary="",
        narrative=turn.text,
        timestamp=turn.timestamp,
        source_turns=(turn.id,),
        session_ids=(turn.session_id,),
        provenance=HEURISTIC,
    )
