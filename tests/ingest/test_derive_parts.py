"""The pure pieces of the full-mode write path: windows, chunks, gap labels, scene building."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.ingest.derive import build_scene
from tmem.ingest.extract import chunk_turns, known_facts
from tmem.ingest.segment import PlannedScene, fallback_scene, turn_lines, windows
from tmem.ingest.timegap import gap_label
from tmem.models import HEURISTIC, Item, Provenance, Scene, Turn

T0 = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)


def _turns(count: int, session: str = "s1", step: float = 30) -> list[Turn]:
    return [
        Turn(
            f"t{i}",
            "u",
            session,
            i,
            ("Ana", "Ben")[i % 2],
            f"turn {i}",
            T0 + timedelta(seconds=step * i),
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(
    ("seconds", "label"),
    [
        (0, "immediate"),
        (59, "immediate"),
        (60, "minutes"),
        (3599, "minutes"),
        (3600, "hours"),
        (86399, "hours"),
        (86400, "days"),
        (-30, "immediate"),
    ],
)
def test_gap_label_buckets(seconds: float, label: str) -> None:
    assert gap_label(T0, T0 + timedelta(seconds=seconds)) == label


def test_gap_label_without_previous_turn_is_empty() -> None:
    assert gap_label(None, T0) == ""


@given(st.integers(0, 120), st.integers(1, 45))
def test_windows_and_chunks_partition_in_order(count: int, size: int) -> None:
    turns = _turns(count)
    for parts in (windows(turns, size), chunk_turns(turns, size)):
        assert [t for part in parts for t in part] == turns
        assert all(1 <= len(part) <= size for part in parts)
        assert len(parts) == -(-count // size)  # the fewest parts possible
        assert not parts or max(map(len, parts)) - min(map(len, parts)) <= 1


def test_turn_lines_number_and_label_gaps() -> None:
    turns = _turns(3, step=120)
    lines = turn_lines(turns, None)
    assert [(line.number, line.gap) for line in lines] == [(1, ""), (2, "minutes"), (3, "minutes")]
    context = turn_lines(turns[:1], None, numbered=False)
    assert context[0].number == 0


def test_fallback_scene_keeps_every_turn_verbatim() -> None:
    turns = _turns(3)
    plan = fallback_scene(turns)
    assert plan.turns == tuple(turns) and plan.provenance == HEURISTIC
    assert plan.title == "Conversation between Ana and Ben on March 4, 2024"
    assert plan.narrative == "Ana said: turn 0 Ben said: turn 1 Ana said: turn 2"


def test_build_scene_continuation_reissues_the_open_scene() -> None:
    old = Scene(
        "scn-open",
        "u",
        "old title",
        "old summary",
        "Old story.",
        T0,
        ("x1",),
        ("s0",),
        ("Ana", "Cy"),
    )
    turns = _turns(2, session="s1")
    plan = PlannedScene(
        tuple(turns), "new title", "new summary", "More story.", True, Provenance("segment@2", "m")
    )
    scene = build_scene(plan, user_id="u", open_scene=old, new_id=lambda p: "never")
    assert (scene.id, scene.title, scene.narrative) == (
        "scn-open",
        "new title",
        "Old story. More story.",
    )
    assert scene.source_turns == ("x1", "t0", "t1") and scene.session_ids == ("s0", "s1")
    assert scene.participants == ("Ana", "Cy", "Ben") and scene.timestamp == turns[-1].timestamp
    fresh = build_scene(plan, user_id="u", open_scene=None, new_id=lambda p: f"{p}-1")
    assert fresh.id == "scn-1" and fresh.source_turns == ("t0", "t1")


def test_known_facts_label_active_items_only_up_to_ten() -> None:
    items = [
        Item(f"i{n}", "u", f"fact {n}", T0, (), (), status="superseded" if n == 0 else "active")
        for n in range(13)
    ]
    facts, ids = known_facts(items)
    assert [f.label for f in facts] == [f"F{n}" for n in range(1, 11)]
    assert ids[0] == ("F1", "i1") and facts[0].content == "fact 1"


def test_a_temporal_that_repeats_the_reference_time_is_no_time() -> None:
    """Qwen2.5-Coder-1.5B wrote the prompt's reference time into every item it extracted."""
    from tmem.ingest.assemble import stated_time
    from tmem.llm.prompts.lines import format_moment

    assert stated_time(format_moment(T0), T0) == ""
    assert stated_time(f"today ({format_moment(T0)})", T0) == ""
    assert stated_time("yesterday (March 3, 2024)", T0) == "yesterday (March 3, 2024)"
    assert stated_time(format_moment(T0), None) == format_moment(T0)
