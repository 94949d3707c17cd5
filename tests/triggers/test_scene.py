from __future__ import annotations

import itertools

from tmem.models import Provenance
from tmem.triggers import SceneTriggerPolicy, scene_triggers

POLICY = SceneTriggerPolicy(copy_ratio=0.85, horizon_min_confidence=0.3)
TURN = "I finally booked that pottery course at the studio"
FACETS = {
    "situation": "A friend shares weekend plans over coffee.",
    "object": "A newly booked pottery course.",
    "event": "I finally booked that pottery course at the studio.",  # a copy: rejected
    "emotion": "",  # empty: no trigger, not a rejection
}


def _run(horizon: dict[str, tuple[str | None, float]]) -> tuple[list[tuple[str, str]], int]:
    counter = itertools.count()
    triggers, rejected = scene_triggers(
        "scn-1",
        FACETS,
        horizon,
        [TURN],
        policy=POLICY,
        user_id="u",
        new_id=lambda prefix: f"{prefix}-{next(counter)}",
        provenance=Provenance("extract@2"),
    )
    assert all(t.targets[0][0] == "scn-1" and len(t.targets) == 1 for t in triggers)
    return [(t.family, t.facet) for t in triggers], rejected


def test_facets_become_scene_triggers_and_copies_are_counted() -> None:
    kinds, rejected = _run({})
    assert kinds == [("scene", "situation"), ("scene", "object")]
    assert rejected == 1


def test_empty_and_weak_horizon_channels_are_no_signal() -> None:
    kinds, rejected = _run(
        {
            "PERSONAL_ARC": ("Priya is becoming someone who makes things by hand.", 0.8),
            "GOAL_ARC": ("A weekly class may compete with overtime at work.", 0.2),
            "AVOIDANCE_HABIT": (None, 0.0),
            "LEGACY_ANCHOR": ("", 0.9),
            "NOT_A_CHANNEL": ("ignored", 1.0),
        }
    )
    assert kinds == [("scene", "situation"), ("scene", "object"), ("horizon", "PERSONAL_ARC")]
    assert rejected == 1
