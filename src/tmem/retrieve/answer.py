"""Answering: retrieved evidence (never triggers) plus persona, through the answer prompt.

Memories flagged as injected instructions are left out unless the caller opts in; when they are
included, they go to the prompt's fenced "untrusted" block, never among the evidence (issue 20).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tmem.llm.base import LLM
from tmem.llm.prompts.answer import SPEC, AnswerInputs, Untrusted
from tmem.llm.structured import call_structured
from tmem.models import (
    HEURISTIC,
    Answer,
    Hit,
    Item,
    PersonaProfile,
    Record,
    Scene,
    Turn,
    evidence_text,
)
from tmem.persona import render_profile


def answer_question(
    llm: LLM,
    question: str,
    hits: Sequence[Hit],
    records: dict[str, Record],
    personas: Sequence[PersonaProfile],
    now: datetime,
    *,
    include_flagged: bool = False,
) -> Answer:
    """Ask the LLM to answer ``question`` from the records behind ``hits``.

    Args:
        include_flagged: show flagged memories too, fenced and labelled as untrusted data.
    """
    trusted = [hit for hit in hits if not hit.risk.flagged]
    flagged = [hit for hit in hits if hit.risk.flagged]
    scenes: list[Scene] = []
    items: list[Item] = []
    for hit in trusted:
        record = records.get(hit.id)
        if isinstance(record, Scene):
            scenes.append(record)
        elif isinstance(record, Item):
            items.append(record)
        elif isinstance(record, Turn):
            scenes.append(_turn_as_scene(record))
    untrusted = tuple(_untrusted(hit, records) for hit in flagged if hit.id in records)
    inputs = AnswerInputs(
        question=question,
        scenes=tuple(scenes),
        items=tuple(items),
        personas=tuple(render_profile(p) for p in personas),
        untrusted=untrusted if include_flagged else (),
    )
    result = call_structured(llm, SPEC, inputs, now)
    shown = hits if include_flagged else trusted
    excluded = () if include_flagged else tuple(flagged)
    return Answer(
        text=result.value.answer, hits=tuple(shown), usage=result.usage, excluded=excluded
    )


def _untrusted(hit: Hit, records: dict[str, Record]) -> Untrusted:
    record = records[hit.id]
    return Untrusted(record.timestamp, evidence_text(record), hit.risk.codes)


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
