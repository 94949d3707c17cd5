"""ANSWER prompt: rendering and output validation (replies are hand-authored JSON)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tmem.errors import LLMOutputError
from tmem.llm.prompts import answer
from tmem.llm.structured import validate_reply
from tmem.models import Item, Scene

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
T0 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)

SCENE = Scene(
    "scn-1",
    "u",
    "Mel runs a charity race",
    "Mel ran.",
    "Mel ran a race last Saturday.",
    T0,
    ("t1",),
    ("s1",),
    ("Mel", "Caroline"),
)
ITEM = Item(
    "itm-1",
    "u",
    "Mel ran a charity race for a shelter.",
    T0,
    ("scn-1",),
    ("t1",),
    temporal="last Saturday (May 6, 2023)",
    spatial="Boston",
)


def test_render_shows_timestamped_evidence_persona_and_question() -> None:
    inputs = answer.AnswerInputs(
        "When did Mel run the race?", (SCENE,), (ITEM,), ("## Persona: Mel\nTraits: kind", " ")
    )
    messages = answer.render(inputs, NOW)
    user = messages[-1].content
    assert "most recent" in messages[0].content
    assert "[Scene 1] (Monday, May 8, 2023, 13:56 UTC) Mel runs a charity race" in user
    assert "Mel ran a race last Saturday." in user
    assert "[Fact 1] Mel ran a charity race for a shelter. (stated Monday, May 8, 2023" in user
    assert "time: last Saturday (May 6, 2023); place: Boston" in user
    assert "People:\n## Persona: Mel" in user
    assert user.rstrip().endswith('{"reasoning": "...", "answer": "..."}')
    assert "Current time: Sunday, March 10, 2024, 12:00 UTC" in user
    assert "Memories of conversations between Mel and Caroline." in user


def test_render_without_evidence_says_so() -> None:
    user = answer.render(answer.AnswerInputs("Where?"), NOW)[-1].content
    assert "Memories: none were found." in user
    assert "People:" not in user


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"reasoning": "May 8 minus 2 days", "answer": "May 6, 2023"}', "May 6, 2023"),
        ('{"answer": "Answer: Boston"}', "Boston"),
        ('{"answer": "thinking... Answer: 7 May 2023"}', "7 May 2023"),
    ],
)
def test_good_replies(reply: str, expected: str) -> None:
    assert validate_reply(reply, answer.AnswerOutput).answer == expected


@pytest.mark.parametrize(
    "reply", ['{"reasoning": "x"}', '{"answer": ""}', '{"answer": "Answer: "}']
)
def test_bad_replies(reply: str) -> None:
    with pytest.raises(LLMOutputError):
        validate_reply(reply, answer.AnswerOutput)
