"""SEGMENT prompt: rendering and output validation (replies are hand-authored JSON)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from tmem.errors import LLMOutputError
from tmem.llm.prompts import segment
from tmem.llm.prompts.lines import TurnLine
from tmem.llm.structured import validate_reply

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
T0 = datetime(2024, 3, 4, 9, 10, tzinfo=UTC)


def _span(start: int, end: int, **extra: object) -> dict[str, object]:
    return {
        "start": start,
        "end": end,
        "title": "Priya books a pottery course at the Elm Street studio for next week",
        "summary": "Priya tells Tom about the course she booked.",
        "narrative": "On March 4, 2024, Priya told Tom she had booked a pottery course.",
        **extra,
    }


def _reply(*spans: dict[str, object]) -> str:
    return json.dumps({"scenes": list(spans)})


def test_render_shows_numbered_turns_gaps_open_scene_and_reference_time() -> None:
    lines = (
        TurnLine(1, "Priya", "I booked the course!", T0, "days"),
        TurnLine(2, "Tom", "When does it start?", T0, "immediate"),
    )
    open_scene = segment.OpenScene(
        "Priya looks for a hobby", "Priya wants a hobby.", (TurnLine(0, "Tom", "Try clay?", T0),)
    )
    messages = segment.render(segment.SegmentInputs(lines, open_scene), NOW)
    user = messages[-1].content
    assert messages[0].role == "system" and "Example reply" in messages[0].content
    assert "[1] 2024-03-04 09:10 (Mon) (gap: days) Priya: I booked the course!" in user
    assert "[-] 2024-03-04 09:10 (Mon) Tom: Try clay?" in user
    assert "Title: Priya looks for a hobby" in user
    assert "Reference time: Sunday, March 10, 2024, 12:00 UTC" in user
    assert "covering turns 1 to 2" in user


def test_render_prefers_reference_time_and_includes_feedback() -> None:
    inputs = segment.SegmentInputs(
        (TurnLine(1, "A", "hi", T0),), reference_time=T0, feedback="the scenes end at turn 3"
    )
    user = segment.render(inputs, NOW)[-1].content
    assert "Reference time: Monday, March 4, 2024, 09:10 UTC" in user
    assert "rejected: the scenes end at turn 3" in user
    assert "Open scene: none." in user


def test_good_reply_validates_and_covers_the_window() -> None:
    reply = _reply(_span(1, 3, continues_open_scene=True), _span(4, 5))
    output = validate_reply(reply, segment.SegmentOutput)
    assert [(s.start, s.end) for s in output.scenes] == [(1, 3), (4, 5)]
    assert output.scenes[0].continues_open_scene
    assert segment.coverage_error(output, 5) is None
    assert (
        segment.coverage_error(output, 6)
        == "the scenes end at turn 5 but the turns run from 1 to 6"
    )


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ((_span(1, 2), _span(4, 5)), "leaves a gap"),
        ((_span(1, 3), _span(3, 5)), "overlaps the previous scene"),
        ((_span(2, 5),), "must start at turn 1"),
        ((_span(3, 1),), "ends (turn 1) before it starts"),
        ((_span(1, 2), _span(3, 4, continues_open_scene=True)), "only the first scene"),
        ((_span(1, 2, title=" ".join(["word"] * 45)),), "more than 40 words"),
        ((), "at least 1 item"),
    ],
)
def test_bad_replies_are_rejected(spans: tuple[dict[str, object], ...], message: str) -> None:
    with pytest.raises(LLMOutputError, match=re.escape(message)):
        validate_reply(_reply(*spans), segment.SegmentOutput)


def test_spec_key() -> None:
    assert segment.SPEC.key == "segment@2"
    assert segment.SPEC.output is segment.SegmentOutput
