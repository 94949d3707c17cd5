"""Re-planning after a write conflict: the retry loop and the basis of a derivation (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tmem.errors import WriteConflictError
from tmem.ingest.replan import derivation_basis, pause, replanned, whole_plain_scenes
from tmem.models import HEURISTIC, Provenance, Scene, Turn

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _turn(turn_id: str) -> Turn:
    return Turn(turn_id, "u", "s", 0, "Ana", "hi", T0)


def _scene(scene_id: str, turns: tuple[str, ...], plain: bool) -> Scene:
    provenance = HEURISTIC if plain else Provenance("segment@2", "m")
    return Scene(scene_id, "u", "t", "s", "n", T0, turns, ("s",), provenance=provenance)


def test_replanned_retries_conflicts_until_a_plan_lands() -> None:
    calls: list[int] = []
    pauses: list[float] = []

    def plan() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise WriteConflictError("stale")
        return "written"

    assert replanned(plan, attempts=10, sleep=pauses.append) == "written"
    assert len(calls) == 4 and len(pauses) == 3


def test_replanned_gives_up_with_the_last_conflict() -> None:
    def plan() -> str:
        raise WriteConflictError("stale")

    with pytest.raises(WriteConflictError):
        replanned(plan, attempts=5, sleep=lambda _: None)


def test_other_errors_are_not_retried() -> None:
    calls: list[int] = []

    def plan() -> str:
        calls.append(1)
        raise ValueError("bug")

    with pytest.raises(ValueError):
        replanned(plan, attempts=5, sleep=lambda _: None)
    assert len(calls) == 1


def test_pauses_grow_but_stay_capped() -> None:
    assert all(0 <= pause(0) <= 0.002 for _ in range(100))
    assert all(0 <= pause(50) <= 0.25 for _ in range(100))


def test_a_plain_scene_is_taken_whole_a_derived_one_is_not() -> None:
    scenes = [_scene("plain", ("a", "b", "c"), plain=True), _scene("llm", ("d", "e"), plain=False)]
    assert whole_plain_scenes({"a"}, scenes) == {"a", "b", "c"}
    assert whole_plain_scenes({"d"}, scenes) == {"d"}
    assert whole_plain_scenes(set(), scenes) == set()


def test_derivation_basis_lists_scenes_read_and_turns_in_none() -> None:
    scenes = [_scene("open", ("a", "b"), plain=False)]
    basis = derivation_basis([_turn("b"), _turn("x"), _turn("y")], scenes)
    assert basis.scenes == (("open", ("a", "b")),)
    assert basis.unplaced == ("x", "y")
    assert basis.next_seq is None
