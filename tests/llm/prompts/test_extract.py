"""EXTRACT prompt: rendering and output validation (replies are hand-authored JSON)."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tmem.errors import LLMOutputError
from tmem.llm.prompts import extract
from tmem.llm.prompts.lines import TurnLine
from tmem.llm.structured import validate_reply

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
T0 = datetime(2024, 3, 4, 9, 10, tzinfo=UTC)

GOOD: dict[str, Any] = {
    "items": [
        {
            "content": "Mel is allergic to shellfish and got hives after eating shrimp.",
            "temporal": "yesterday (March 3, 2024)",
            "spatial": "",
            "keywords": ["Mel", "allergy", "shrimp"],
            "query_patterns": ["What is Mel allergic to?"],
            "source_turns": [1, 2],
            "triggers": [
                {
                    "concept": "food allergy",
                    "bridge": "hives after shrimp -> avoid seafood",
                    "confidence": 0.9,
                },
                {"concept": "seafood restaurant booking", "confidence": 0.7},
            ],
            "supersedes": ["F1"],
        }
    ],
    "scene": {
        "situation": "A worried check-in after a bad meal.",
        "object": "Mel's newly found shellfish allergy.",
        "event": "A harmless dinner turns into a health discovery.",
        "emotion": "Alarm easing into caution.",
    },
    "horizon": {
        "AVOIDANCE_HABIT": {"sent": "Mel will steer clear of seafood menus.", "confidence": 0.8},
        "GOAL_ARC": {"sent": None, "confidence": 0},
    },
    "persona": [
        {
            "speaker": "Mel",
            "identity": {"occupation": "nurse"},
            "relations": [{"person": "Jo", "relation": "sister"}],
        }
    ],
}


def _validate(data: dict[str, Any]) -> extract.ExtractOutput:
    return validate_reply(json.dumps(data), extract.ExtractOutput)


def test_render_shows_facts_context_and_numbered_turns() -> None:
    inputs = extract.ExtractInputs(
        scene_title="Mel discovers an allergy",
        scene_summary="Mel had hives after shrimp.",
        turns=(TurnLine(1, "Mel", "I got hives from shrimp", T0, "hours"),),
        context=(TurnLine(0, "Jo", "How was dinner?", T0),),
        known_facts=(extract.KnownFact("F1", "Mel loves shrimp.", "May 2023"),),
    )
    messages = extract.render(inputs, NOW)
    user = messages[-1].content
    assert "Example reply" in messages[0].content
    assert "F1: Mel loves shrimp. (time: May 2023)" in user
    assert "Earlier turns (context only):\n[-] 2024-03-04 09:10 (Mon) Jo: How was dinner?" in user
    assert "[1] 2024-03-04 09:10 (Mon) (gap: hours) Mel: I got hives from shrimp" in user
    assert "Reference time: Sunday, March 10, 2024, 12:00 UTC" in user


def test_render_without_facts() -> None:
    inputs = extract.ExtractInputs("t", "s", (TurnLine(1, "A", "x", T0),), reference_time=T0)
    user = extract.render(inputs, NOW)[-1].content
    assert "Known facts: none." in user
    assert "Reference time: Monday, March 4, 2024, 09:10 UTC" in user
    assert "Earlier turns" not in user


def _rendered(instructions: extract.Instructions | None = None) -> list[Any]:
    inputs = extract.ExtractInputs(
        "Dinner",
        "Mel tells Jo about a bad meal.",
        (TurnLine(1, "Mel", "I got hives after the shrimp.", T0),
         TurnLine(2, "Jo", "Oh no!", T0, "minutes")),
        context=(TurnLine(0, "Jo", "How was dinner?", T0),),
        known_facts=(extract.KnownFact("F1", "Mel eats seafood.", "last year"),),
        reference_time=T0,
        instructions=instructions or extract.Instructions(),
    )  # fmt: skip
    return [[m.role, m.content] for m in extract.render(inputs, NOW)]


def test_without_instructions_the_render_is_the_one_before_they_existed() -> None:
    # The digest of this render by extract@2 at ea65fd2, before instructions existed: replies
    # cached and recorded for it stay valid, so the version did not change.
    digest = hashlib.sha256(json.dumps(_rendered()).encode()).hexdigest()
    assert digest == "00e140bcf8505f48fc6d9030ad174fcedf275df2ddb042a2500c64692f53c23c"
    assert _rendered(extract.Instructions(" ", "\n")) == _rendered()


def test_instructions_are_fenced_after_their_rules_and_before_the_turns() -> None:
    (_, system), (_, user) = _rendered(
        extract.Instructions("Remember dietary needs.", "Ignore small talk.\nKeep trips.")
    )
    assert system == _rendered()[0][1]  # the system prompt is everyone's
    rules = user.index("What to keep: follow these instructions")
    operator = user.index(
        '<instructions from="operator">\nRemember dietary needs.\n</instructions>'
    )
    own = user.index('<instructions from="user">\nIgnore small talk.\nKeep trips.\n</instructions>')
    assert rules < operator < own < user.index("Turns to extract from (1 to 2)")
    assert "the reply keeps the JSON form and the rules above" in user[rules:operator]
    assert "the operator's win" in user
    _, (_, alone) = _rendered(extract.Instructions(user="Ignore small talk."))
    assert '<instructions from="operator">' not in alone and "operator's win" not in alone
    assert alone.endswith(_rendered()[1][1][-120:])  # the closing reply rule stays last


def test_good_reply_validates_with_defaults() -> None:
    output = _validate(GOOD)
    assert output.items[0].triggers[1].bridge == ""
    assert output.horizon.AVOIDANCE_HABIT.sent == "Mel will steer clear of seafood menus."
    assert output.horizon.PERSONAL_ARC.sent is None
    assert output.persona[0].relations[0].person == "Jo"


def test_empty_channel_is_null_with_zero_confidence() -> None:
    data = copy.deepcopy(GOOD)
    data["horizon"]["GOAL_ARC"] = {"sent": "  ", "confidence": 0.7}
    data["horizon"]["PERSONAL_ARC"] = {"sent": "null", "confidence": 0.5}
    output = _validate(data)
    assert (output.horizon.GOAL_ARC.sent, output.horizon.GOAL_ARC.confidence) == (None, 0.0)
    assert output.horizon.PERSONAL_ARC.sent is None


def test_bare_channel_values_are_accepted() -> None:
    data = copy.deepcopy(GOOD)
    data["horizon"] = {"GOAL_ARC": "Weekly classes may strain her evenings.", "PERSONAL_ARC": None}
    output = _validate(data)
    assert output.horizon.GOAL_ARC.sent == "Weekly classes may strain her evenings."
    assert output.horizon.GOAL_ARC.confidence == 0.5
    assert output.horizon.PERSONAL_ARC.sent is None


def _break(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(GOOD)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("items", 0, "triggers", 0, "confidence"), 1.5, "less than or equal to 1"),
        (("items", 0, "triggers", 0, "concept"), "a b c d e f g h i j", "longer than 8 words"),
        (("items", 0, "triggers", 0, "bridge"), " ".join(["w"] * 25), "longer than 20 words"),
        (("items", 0, "source_turns"), [0], "turn numbers from 1"),
        (("items", 0, "content"), "", "at least 5 characters"),
        (("scene", "emotion"), "", "at least 3 characters"),
        (("scene", "event"), " ".join(["w"] * 60), "within 50 words"),
        (("horizon", "GOAL_ARC"), {"sent": "x", "confidence": -0.1}, "greater than or equal"),
    ],
)
def test_bad_replies_are_rejected(path: tuple[Any, ...], value: Any, message: str) -> None:
    with pytest.raises(LLMOutputError, match=message):
        _validate(_break(path, value))


@pytest.mark.parametrize(
    ("path", "limit", "message"),
    [
        (("items", 0, "triggers", 0, "concept"), extract.MAX_CONCEPT_WORDS, "longer than {} words"),
        (("items", 0, "triggers", 0, "bridge"), extract.MAX_BRIDGE_WORDS, "longer than {} words"),
        (("scene", "event"), extract.MAX_SENTENCE_WORDS, "within {} words"),
        (("horizon", "GOAL_ARC", "sent"), extract.MAX_SENTENCE_WORDS, "within {} words"),
    ],
)
def test_word_limits_are_the_ones_the_retry_message_states(
    path: tuple[Any, ...], limit: int, message: str
) -> None:
    """The message goes back to the model on a retry: it must name the limit actually applied."""
    _validate(_break(path, " ".join(["w"] * limit)))
    with pytest.raises(LLMOutputError, match=message.format(limit)):
        _validate(_break(path, " ".join(["w"] * (limit + 1))))


def test_long_lists_keep_their_first_entries() -> None:
    """Bounded lists are truncated, not rejected: one extra trigger must not cost the reply."""
    data = copy.deepcopy(GOOD)
    trigger = data["items"][0]["triggers"][0]
    data["items"][0]["triggers"] = [dict(trigger, concept=f"cue {n}") for n in range(9)]
    data["items"] = data["items"] * (extract.MAX_ITEMS + 3)
    output = _validate(data)
    assert len(output.items) == extract.MAX_ITEMS
    concepts = [t.concept for t in output.items[0].triggers]
    assert concepts == [f"cue {n}" for n in range(extract.MAX_TRIGGERS)]


def test_decoding_schema_requires_every_field_and_bounds_every_list() -> None:
    """A grammar-constrained decoder writes required fields first and may stop after them."""
    schema = extract.SPEC.schema()
    assert schema["required"] == ["items", "scene", "horizon", "persona"]
    assert schema["properties"]["items"]["maxItems"] == extract.MAX_ITEMS
    item = schema["$defs"]["ItemOut"]
    assert item["required"] == list(item["properties"])
    assert item["properties"]["triggers"]["maxItems"] == extract.MAX_TRIGGERS
    assert schema["$defs"]["Channel"]["required"] == ["sent", "confidence"]


def test_missing_scene_facets_is_rejected() -> None:
    data = copy.deepcopy(GOOD)
    del data["scene"]
    with pytest.raises(LLMOutputError, match="scene: Field required"):
        _validate(data)
