from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from tmem.config import WriteConfig
from tmem.ingest.llm_free import context_text, group_turns
from tmem.models import Turn

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def turn(i: int, session: str = "s1", minutes: float = 0) -> Turn:
    return Turn(
        id=f"t{i}",
        user_id="u",
        session_id=session,
        seq=i,
        speaker="A" if i % 2 else "B",
        content=f"message {i}",
        timestamp=T0 + timedelta(minutes=minutes),
    )


def ids() -> object:
    counter = count()
    return lambda prefix: f"{prefix}_{next(counter)}"


def test_session_change_and_time_gap_start_new_scenes() -> None:
    turns = [turn(0), turn(1, minutes=1), turn(2, minutes=200), turn(3, "s2", minutes=201)]
    grouping = group_turns(
        turns,
        open_scene=None,
        open_scene_turns=(),
        config=WriteConfig(),
        new_id=ids(),  # type: ignore[arg-type]
    )
    assert [s.source_turns for s in grouping.scenes] == [("t0", "t1"), ("t2",), ("t3",)]
    assert grouping.scenes[0].provenance.method == "heuristic"


def test_long_runs_are_cut_at_max_scene_turns() -> None:
    turns = [turn(i, minutes=i) for i in range(7)]
    grouping = group_turns(
        turns,
        open_scene=None,
        open_scene_turns=(),
        config=WriteConfig(max_scene_turns=3),
        new_id=ids(),  # type: ignore[arg-type]
    )
    assert [len(s.source_turns) for s in grouping.scenes] == [3, 3, 1]


def test_open_scene_is_continued_in_the_same_session() -> None:
    first = group_turns(
        [turn(0), turn(1, minutes=1)],
        open_scene=None,
        open_scene_turns=(),
        config=WriteConfig(),
        new_id=ids(),  # type: ignore[arg-type]
    )
    open_scene = first.scenes[0]
    second = group_turns(
        [turn(2, minutes=2)],
        open_scene=open_scene,
        open_scene_turns=first.members[0],
        config=WriteConfig(),
        new_id=ids(),  # type: ignore[arg-type]
    )
    assert second.scenes[0].id == open_scene.id
    assert second.scenes[0].source_turns == ("t0", "t1", "t2")


def test_new_session_does_not_reissue_the_open_scene() -> None:
    first = group_turns(
        [turn(0)],
        open_scene=None,
        open_scene_turns=(),
        config=WriteConfig(),
        new_id=ids(),  # type: ignore[arg-type]
    )
    second = group_turns(
        [turn(1, "s2", minutes=5)],
        open_scene=first.scenes[0],
        open_scene_turns=first.members[0],
        config=WriteConfig(),
        new_id=lambda p: "fresh",
    )
    assert [s.id for s in second.scenes] == ["fresh"]


def test_context_text_includes_neighbours_in_order() -> None:
    members = [turn(i) for i in range(4)]
    assert context_text(members, 0) == "B: message 0\nA: message 1"
    assert context_text(members, 2) == "A: message 1\nB: message 2\nA: message 3"
