"""EXTRACT: items, their Entity/Bridge triggers, Scene facets, Horizon channels, persona deltas
and supersessions for one scene, or one chunk of at most ``trigger_chunk_turns`` turns of it.

One call replaces T-Mem's per-topic item call, per-item Entity/Bridge call and per-scene
Scene/Horizon call; long scenes are chunked instead of skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from tmem.llm.base import ChatMessage
from tmem.llm.prompts import PromptSpec
from tmem.llm.prompts.lines import TurnLine, clip, example_texts, format_moment, render_turns

PROMPT_ID = "extract"
VERSION = "2"

MAX_ITEMS = 8
MAX_TRIGGERS = 5
MAX_KEYWORDS = 8
MAX_QUERY_PATTERNS = 3
MAX_SOURCE_TURNS = 10
MAX_SUPERSEDES = 10
MAX_PERSONAS = 4
"""List bounds: advertised to constrained decoders (each reply stays finite, so a runaway small
model cannot spend the whole token cap) and applied by keeping the first N on validation."""

MAX_CONCEPT_WORDS = 8
MAX_BRIDGE_WORDS = 20
MAX_SENTENCE_WORDS = 50
"""Word limits a reply is validated against; looser than what the prompt asks for (concepts of 2
to 6 words, bridges of at most 12), so that a near miss is kept rather than retried. A reply over
a limit is retried with a message that states the limit itself."""
_FACT_CHARS = 300


@dataclass(frozen=True)
class KnownFact:
    """An existing item the new turns may update; the model cites its ``label`` (F1, F2...)."""

    label: str
    content: str
    temporal: str = ""


@dataclass(frozen=True)
class Instructions:
    """What to keep, in the words of whoever runs the memory (``operator``: the deployment's
    :attr:`tmem.config.WriteConfig.instructions`) and of the ``user`` (their own, stored with
    :meth:`tmem.Memory.set_instructions`); both checked by
    :func:`tmem.validate.check_instructions`. Empty: the prompt has no such section."""

    operator: str = ""
    user: str = ""


@dataclass(frozen=True)
class ExtractInputs:
    """One scene chunk to extract from.

    Attributes:
        turns: the chunk's turns, numbered from 1.
        context: earlier turns of the same scene (number 0), shown but not extracted from.
        reference_time: the chunk's conversation time; ``now`` is used when missing.
    """

    scene_title: str
    scene_summary: str
    turns: tuple[TurnLine, ...]
    context: tuple[TurnLine, ...] = ()
    known_facts: tuple[KnownFact, ...] = ()
    reference_time: datetime | None = None
    instructions: Instructions = Instructions()


def _words(value: str) -> int:
    return len(value.split())


def _bounded(max_items: int) -> Any:
    """A list field that advertises ``maxItems`` to grammar-constrained decoders and keeps the
    first ``max_items`` of a longer list from other backends instead of rejecting the reply."""
    return Field(default_factory=list, json_schema_extra={"maxItems": max_items})


def _first(limit: int) -> Any:
    def keep(value: Any) -> Any:
        return value[:limit] if isinstance(value, list) else value

    return keep


class TriggerOut(BaseModel):
    concept: str = Field(min_length=2)
    bridge: str = ""
    confidence: float = Field(ge=0.0, le=1.0)

    @field_validator("concept", "bridge")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())

    @model_validator(mode="after")
    def _lengths(self) -> TriggerOut:
        if _words(self.concept) > MAX_CONCEPT_WORDS:
            raise ValueError(f"concept {self.concept!r} is longer than {MAX_CONCEPT_WORDS} words")
        if _words(self.bridge) > MAX_BRIDGE_WORDS:
            raise ValueError(f"bridge {self.bridge!r} is longer than {MAX_BRIDGE_WORDS} words")
        return self


class ItemOut(BaseModel):
    content: str = Field(min_length=5)
    temporal: str = ""
    spatial: str = ""
    keywords: list[str] = _bounded(MAX_KEYWORDS)
    query_patterns: list[str] = _bounded(MAX_QUERY_PATTERNS)
    source_turns: list[int] = _bounded(MAX_SOURCE_TURNS)
    triggers: list[TriggerOut] = _bounded(MAX_TRIGGERS)
    supersedes: list[str] = _bounded(MAX_SUPERSEDES)

    _keywords = field_validator("keywords", mode="before")(_first(MAX_KEYWORDS))
    _patterns = field_validator("query_patterns", mode="before")(_first(MAX_QUERY_PATTERNS))
    _sources = field_validator("source_turns", mode="before")(_first(MAX_SOURCE_TURNS))
    _triggers = field_validator("triggers", mode="before")(_first(MAX_TRIGGERS))
    _supersedes = field_validator("supersedes", mode="before")(_first(MAX_SUPERSEDES))

    @field_validator("content", "temporal", "spatial")
    @classmethod
    def _strip(cls, value: str) -> str:
        return " ".join(value.split())

    @field_validator("source_turns")
    @classmethod
    def _positive(cls, value: list[int]) -> list[int]:
        if any(number < 1 for number in value):
            raise ValueError("source_turns are turn numbers from 1")
        return value


class SceneFacets(BaseModel):
    situation: str = Field(min_length=5)
    object: str = Field(min_length=3)
    event: str = Field(min_length=5)
    emotion: str = Field(min_length=3)

    @field_validator("situation", "object", "event", "emotion")
    @classmethod
    def _sentence(cls, value: str) -> str:
        value = " ".join(value.split())
        if _words(value) > MAX_SENTENCE_WORDS:
            raise ValueError(
                f"scene sentences must stay within {MAX_SENTENCE_WORDS} words: {value[:60]!r}..."
            )
        return value


class Channel(BaseModel):
    """One Horizon channel: a sentence, or null with confidence 0 when there is no signal."""

    sent: str | None = None
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="before")
    @classmethod
    def _bare(cls, data: Any) -> Any:
        # Small models often answer a channel with a bare sentence or null; the confidence is
        # then unknown, so it gets a middling 0.5 rather than a retry.
        if data is None:
            return {}
        if isinstance(data, str):
            return {"sent": data, "confidence": 0.5}
        return data

    @model_validator(mode="after")
    def _empty_policy(self) -> Channel:
        text = " ".join((self.sent or "").split())
        if not text or text.lower() in {"null", "none", "n/a"}:
            self.sent, self.confidence = None, 0.0
            return self
        if _words(text) > MAX_SENTENCE_WORDS:
            raise ValueError(
                f"horizon sentences must stay within {MAX_SENTENCE_WORDS} words: {text[:60]!r}..."
            )
        self.sent = text
        return self


class Horizon(BaseModel):
    PERSONAL_ARC: Channel = Field(default_factory=Channel)
    AVOIDANCE_HABIT: Channel = Field(default_factory=Channel)
    GOAL_ARC: Channel = Field(default_factory=Channel)
    BELIEF_IN_ACTION: Channel = Field(default_factory=Channel)
    LEGACY_ANCHOR: Channel = Field(default_factory=Channel)


class RelationOut(BaseModel):
    person: str = Field(min_length=1)
    relation: str = Field(min_length=1)


class PersonaOut(BaseModel):
    speaker: str = Field(min_length=1)
    identity: dict[str, str] = Field(default_factory=dict)
    preferences: dict[str, list[str]] = Field(default_factory=dict)
    traits: dict[str, list[str]] = Field(default_factory=dict)
    relations: list[RelationOut] = Field(default_factory=list)


class ExtractOutput(BaseModel):
    items: list[ItemOut] = _bounded(MAX_ITEMS)
    scene: SceneFacets
    horizon: Horizon = Field(default_factory=Horizon)
    persona: list[PersonaOut] = _bounded(MAX_PERSONAS)

    _items = field_validator("items", mode="before")(_first(MAX_ITEMS))
    _persona = field_validator("persona", mode="before")(_first(MAX_PERSONAS))


_SYSTEM = """\
You turn part of a conversation into memories an assistant can recall months later. Use only the \
numbered turns; lines marked [-] are earlier context. Invent nothing.

Return four things.

1. "items": every fact worth remembering from the numbered turns, small details included, \
at most 8 (merge tiny related facts). Each:
- "content": one self-contained sentence with who, what, and when or where if known. Use names, \
exact titles in quotes and numbers. Keep a reason or purpose inside the same item. Add a few \
connected items that join facts spread over several turns.
- "temporal": only when a turn says when it happened (a date, a weekday, "yesterday", "next \
month"): written "relative (absolute)", computed from the timestamp of the turn that says it, \
e.g. "yesterday" said on 2024-03-04 gives "yesterday (March 3, 2024)". Otherwise "": a turn's \
own timestamp or the reference time is not the time of a fact.
- "spatial": a place named in the item's own turns, or "". "keywords": 3 to 8 search words. \
"query_patterns": 1 to 3 questions the item answers. "source_turns": the numbers of the turns \
it rests on.
- "triggers": 3 to 5 cues that should later bring this item to mind, each with "concept" (a 2 to \
6 word noun phrase: a broader category of the fact, or a concrete situation where it would matter; \
never the fact reworded, never vague like "daily life"), "bridge" (at most 12 words: \
"<cue from the fact> -> <what follows from it>") and "confidence" (0 to 1: how surely someone who \
knows the speaker would connect the cue to this fact).
- "supersedes": labels of known facts (F1, F2, ...) that this item corrects or replaces; \
usually [].

2. "scene": four sentences in your own words, never copied from the turns: "situation" (the \
setting), "object" (the central thing or person), "event" (what changed, said abstractly), \
"emotion" (the emotional tone or arc).

3. "horizon": what this exchange may lead to later. For each channel give {"sent": one sentence, \
"confidence": 0.3 to 1}, or {"sent": null, "confidence": 0} when the turns give no signal. Never \
make one up, never repeat a turn.
PERSONAL_ARC: how the speaker is changing. AVOIDANCE_HABIT: what they now avoid or watch out \
for, and where that may show up again. GOAL_ARC: a commitment made, and the cost, fatigue or \
change of plan it may bring. BELIEF_IN_ACTION: a stated principle, and where reality may test \
it. LEGACY_ANCHOR: a concrete object, person, place or ritual likely to come up again.

4. "persona": stable facts about a speaker, only when stated. "identity" uses only the keys age, \
gender, origin, current_location, occupation, relationship_status, financial_status, education, \
family_role, languages, ethnicity; "preferences" and "traits" map a key to a list; "relations" \
lists {"person", "relation"}. Use [] when there is nothing.

The example below shows the form only: never reuse its names, facts, wording or confidences.

Reply with JSON only.
"""


_EXAMPLE_TURNS = """\
[1] 2024-03-04 09:10 (Mon) Priya: I quit the bakery job last week, the 4am shifts were wrecking me.
[2] 2024-03-04 09:12 (Mon) Tom: Good for you. What now?
[3] 2024-03-04 09:13 (Mon) Priya: Night classes in graphic design, and I kept my old apron."""

_EXAMPLE_REPLY: dict[str, Any] = {
    "items": [
        {
            "content": "Priya quit her bakery job because the 4am shifts were exhausting her.",
            "temporal": "last week (the week of February 26, 2024)",
            "spatial": "bakery",
            "keywords": ["Priya", "bakery", "quit", "early shifts"],
            "query_patterns": ["Why did Priya leave the bakery?"],
            "source_turns": [1],
            "triggers": [
                {
                    "concept": "career change",
                    "bridge": "quit over 4am shifts -> values rest over pay",
                    "confidence": 0.85,
                },
                {
                    "concept": "early morning work offers",
                    "bridge": "exhausted by dawn shifts -> likely to refuse them",
                    "confidence": 0.75,
                },
                {
                    "concept": "sleep and burnout",
                    "bridge": "shifts wrecked her -> sensitive to overwork",
                    "confidence": 0.7,
                },
            ],
            "supersedes": [],
        },
        {
            "content": "Priya is taking night classes in graphic design after leaving the bakery.",
            "temporal": "",
            "spatial": "",
            "keywords": ["Priya", "graphic design", "night classes"],
            "query_patterns": ["What is Priya studying?"],
            "source_turns": [1, 3],
            "triggers": [
                {
                    "concept": "creative career training",
                    "bridge": "design classes -> building a new profession",
                    "confidence": 0.9,
                }
            ],
            "supersedes": [],
        },
    ],
    "scene": {
        "situation": "A catch-up in which one friend explains a recent job exit.",
        "object": "Priya's former bakery job and her new design studies.",
        "event": "Priya moves from exhausting manual work toward a creative career.",
        "emotion": "Relief at escaping burnout mixed with hope about starting over.",
    },
    "horizon": {
        "PERSONAL_ARC": {
            "sent": "Priya is turning from a worn-out baker into a design student.",
            "confidence": 0.8,
        },
        "AVOIDANCE_HABIT": {
            "sent": "Priya may turn down any role that demands pre-dawn hours.",
            "confidence": 0.6,
        },
        "GOAL_ARC": {
            "sent": "Evening study on top of a job search may strain Priya's energy.",
            "confidence": 0.5,
        },
        "BELIEF_IN_ACTION": {"sent": None, "confidence": 0},
        "LEGACY_ANCHOR": {
            "sent": "The kept bakery apron may resurface as a keepsake.",
            "confidence": 0.5,
        },
    },
    "persona": [
        {
            "speaker": "Priya",
            "identity": {"occupation": "graphic design student"},
            "preferences": {},
            "traits": {"values": ["rest over pay"]},
            "relations": [],
        }
    ],
}

EXAMPLE_TEXTS: tuple[str, ...] = example_texts(_EXAMPLE_REPLY)
"""The example's texts: tiny models sometimes echo the example instead of doing the work."""

_PROMPT = (
    f"{_SYSTEM}\nExample turns:\n{_EXAMPLE_TURNS}\nExample reply:\n{json.dumps(_EXAMPLE_REPLY)}"
)


def _facts_block(facts: tuple[KnownFact, ...]) -> str:
    if not facts:
        return "Known facts: none."
    lines = [
        f"{fact.label}: {clip(fact.content, _FACT_CHARS)}"
        + (f" (time: {fact.temporal})" if fact.temporal else "")
        for fact in facts
    ]
    return "Known facts (cite a label in supersedes only if a new item replaces it):\n" + "\n".join(
        lines
    )


def _instructions_block(instructions: Instructions) -> str | None:
    """The instructions, each fenced in its own tag, after what they may and may not do."""
    given = [
        (who, text.strip())
        for who, text in (("operator", instructions.operator), ("user", instructions.user))
        if text.strip()
    ]
    if not given:
        return None
    rule = (
        "What to keep: follow these instructions when you choose which items and persona facts "
        "to write and which to leave out. They only decide what is worth remembering: the reply "
        "keeps the JSON form and the rules above, and nothing inside them is a turn to extract "
        "from."
    )
    if len(given) > 1:
        rule += " Where the operator's and the user's instructions disagree, the operator's win."
    fenced = [f'<instructions from="{who}">\n{text}\n</instructions>' for who, text in given]
    return "\n".join([rule, *fenced])


def render(inputs: ExtractInputs, now: datetime) -> list[ChatMessage]:
    """The rules with a worked example, then the scene header, facts, any instructions on what
    to keep, and the turns."""
    count = len(inputs.turns)
    parts = [
        f"Reference time: {format_moment(inputs.reference_time or now)}",
        f"Scene: {inputs.scene_title}\nSummary: {inputs.scene_summary}",
        _facts_block(inputs.known_facts),
    ]
    if inputs.context:
        parts.append("Earlier turns (context only):\n" + render_turns(inputs.context))
    keep = _instructions_block(inputs.instructions)
    if keep is not None:
        parts.append(keep)
    parts.append(f"Turns to extract from (1 to {count}):\n" + render_turns(inputs.turns))
    parts.append(
        'Reply with JSON only: {"items": [...], "scene": {...}, "horizon": {...}, '
        '"persona": [...]}.'
    )
    return [ChatMessage("system", _PROMPT), ChatMessage("user", "\n\n".join(parts))]


SPEC: PromptSpec[ExtractOutput] = PromptSpec(
    PROMPT_ID, VERSION, ExtractOutput, render, max_tokens=4096
)
