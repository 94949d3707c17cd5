"""SEGMENT: split a window of new turns into scenes, one call per window.

Replaces T-Mem's per-message boundary call plus per-scene writing call with one call
that returns contiguous turn ranges, each with its title, summary and narrative. Scenes follow
event closure, not sessions: the first scene may continue the open scene from an earlier ingest.

The output model checks the ranges it can check alone (they start at 1, follow each other without
gaps or overlaps); :func:`coverage_error` adds the window length.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from tmem.llm.base import ChatMessage
from tmem.llm.prompts import PromptSpec
from tmem.llm.prompts.lines import TurnLine, example_texts, format_moment, render_turns

PROMPT_ID = "segment"
VERSION = "2"

# Segmentation needs the gist of each turn, not every word; the extraction call sees them whole.
_TURN_CHARS = 600
_MAX_TITLE_WORDS = 40


@dataclass(frozen=True)
class OpenScene:
    """The latest scene already stored, which the new turns may continue."""

    title: str
    summary: str
    last_turns: tuple[TurnLine, ...] = ()


@dataclass(frozen=True)
class SegmentInputs:
    """One window of new turns, numbered from 1.

    Attributes:
        reference_time: the time of the conversation (usually the last turn's timestamp);
            ``now`` is used when it is missing.
        feedback: why the previous reply was rejected, for a corrective retry.
    """

    turns: tuple[TurnLine, ...]
    open_scene: OpenScene | None = None
    reference_time: datetime | None = None
    feedback: str = ""


class SceneSpan(BaseModel):
    """One scene: an inclusive range of turn numbers and its descriptions."""

    start: int = Field(ge=1)
    end: int = Field(ge=1)
    continues_open_scene: bool = False
    title: str = Field(min_length=3)
    summary: str = Field(min_length=10)
    narrative: str = Field(min_length=10)

    @field_validator("title", "summary", "narrative")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("title")
    @classmethod
    def _short_title(cls, value: str) -> str:
        if len(value.split()) > _MAX_TITLE_WORDS:
            raise ValueError(f"title has more than {_MAX_TITLE_WORDS} words; use 10 to 20")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SceneSpan:
        if self.end < self.start:
            raise ValueError(f"scene ends (turn {self.end}) before it starts (turn {self.start})")
        return self


class SegmentOutput(BaseModel):
    scenes: list[SceneSpan] = Field(min_length=1)

    @model_validator(mode="after")
    def _contiguous(self) -> SegmentOutput:
        expected = 1
        for index, span in enumerate(self.scenes):
            if span.start != expected:
                kind = "overlaps the previous scene" if span.start < expected else "leaves a gap"
                raise ValueError(
                    f"scene {index + 1} starts at turn {span.start} and {kind}; "
                    f"it must start at turn {expected}"
                )
            if index and span.continues_open_scene:
                raise ValueError("only the first scene may set continues_open_scene")
            expected = span.end + 1
        return self


def coverage_error(output: SegmentOutput, turn_count: int) -> str | None:
    """Why ``output`` does not cover turns 1..``turn_count`` exactly once, or None if it does."""
    last = output.scenes[-1].end
    if last != turn_count:
        return f"the scenes end at turn {last} but the turns run from 1 to {turn_count}"
    return None


_SYSTEM = """\
You organise a conversation log into scenes for a long-term memory.
A scene is one event or thread from start to finish: a plan and how it turned out, a question and \
its answer, a piece of news and the reactions to it. Cut where an event closes, not where a \
session ends: a later session can pick up the same event, and one session can hold several events.

Rules:
- Every numbered turn belongs to exactly one scene. Scenes are consecutive ranges: the first \
starts at turn 1, each next one starts right after the previous one ends, the last one ends at \
the final turn.
- Greetings, thanks, small talk and goodbyes stay with the event they open or close.
- A gap of hours or days usually starts a new scene; a gap of minutes rarely does.
- Prefer scenes of 4 to 20 turns. When unsure, keep related turns together.
- If an open scene is shown and the first turns carry on that same event, set \
"continues_open_scene": true on the first scene. Its title and summary then describe the whole \
event, earlier part included; its narrative covers only the numbered turns.

For each scene write:
- title: 10 to 20 words, specific: who, what, and when or where if known.
- summary: 2 to 4 sentences on who did what, and why.
- narrative: a factual third-person account of the turns in order. Use names instead of \
pronouns. Keep concrete details: names, numbers, titles, places, feelings, decisions, plans. \
Write dates as "relative (absolute)", e.g. "next Saturday (March 9, 2024)", computed from the \
timestamp of the turn that mentions them.

Reply with JSON only.
"""


_EXAMPLE_TURNS = """\
[1] 2024-03-04 09:10 (Mon) (gap: days) Priya: Morning! I finally booked that pottery course.
[2] 2024-03-04 09:11 (Mon) (gap: immediate) Tom: Nice, when does it start?
[3] 2024-03-04 09:11 (Mon) (gap: immediate) Priya: Next Saturday, at the studio on Elm Street.
[4] 2024-03-04 09:25 (Mon) (gap: minutes) Tom: Unrelated, but my sister got the job in Lisbon!
[5] 2024-03-04 09:26 (Mon) (gap: immediate) Priya: Amazing, tell her congratulations from me."""

_EXAMPLE_REPLY: dict[str, Any] = {
    "scenes": [
        {
            "start": 1,
            "end": 3,
            "continues_open_scene": False,
            "title": "Priya books a pottery course at the Elm Street studio starting Saturday, "
            "March 9, 2024",
            "summary": "Priya tells Tom she has booked a pottery course. It starts on Saturday at "
            "a studio on Elm Street.",
            "narrative": "On Monday, March 4, 2024, Priya told Tom she had finally booked a "
            "pottery course. The course starts next Saturday (March 9, 2024) at a studio on Elm "
            "Street.",
        },
        {
            "start": 4,
            "end": 5,
            "continues_open_scene": False,
            "title": "Tom shares that his sister got a job in Lisbon and Priya sends "
            "congratulations",
            "summary": "Tom announces that his sister was hired for a job in Lisbon. Priya is "
            "delighted and asks Tom to congratulate her.",
            "narrative": "On March 4, 2024, Tom told Priya that his sister had got the job in "
            "Lisbon. Priya was delighted and asked Tom to pass on her congratulations.",
        },
    ]
}

EXAMPLE_TEXTS: tuple[str, ...] = example_texts(_EXAMPLE_REPLY)
"""The example's sentences: tiny models sometimes echo the example instead of doing the work."""

_PROMPT = (
    f"{_SYSTEM}\nExample turns:\n{_EXAMPLE_TURNS}\nExample reply:\n{json.dumps(_EXAMPLE_REPLY)}"
)


def _open_scene_block(open_scene: OpenScene | None) -> str:
    if open_scene is None:
        return "Open scene: none."
    parts = [
        "Open scene (the numbered turns may continue it):",
        f"Title: {open_scene.title}",
        f"Summary: {open_scene.summary}",
    ]
    if open_scene.last_turns:
        parts.append("Its last turns:")
        parts.append(render_turns(open_scene.last_turns, max_chars=_TURN_CHARS))
    return "\n".join(parts)


def render(inputs: SegmentInputs, now: datetime) -> list[ChatMessage]:
    """The system rules with a worked example, then the window to segment."""
    count = len(inputs.turns)
    parts = [
        f"Reference time: {format_moment(inputs.reference_time or now)}",
        _open_scene_block(inputs.open_scene),
        f"Turns to segment (1 to {count}):",
        render_turns(inputs.turns, max_chars=_TURN_CHARS),
    ]
    if inputs.feedback:
        parts.append(f"Your previous reply was rejected: {inputs.feedback}. Fix this.")
    parts.append(f'Reply with JSON only: {{"scenes": [...]}} covering turns 1 to {count}.')
    return [ChatMessage("system", _PROMPT), ChatMessage("user", "\n\n".join(parts))]


SPEC: PromptSpec[SegmentOutput] = PromptSpec(
    PROMPT_ID, VERSION, SegmentOutput, render, max_tokens=4096
)
