from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tmem.models import Provenance, Trigger
from tmem.triggers import (
    TriggerDraft,
    TriggerGroup,
    group_drafts,
    group_triggers,
    keep_confident,
    merge_triggers,
)

RATIO = 0.9


def _trigger(tid: str, family: str, text: str, *targets: tuple[str, float]) -> Trigger:
    return Trigger(tid, "u", family, text, tuple(targets))  # type: ignore[arg-type]


def test_group_drafts_keeps_first_concept_longer_bridge_and_max_confidence() -> None:
    drafts = [
        TriggerDraft("Food allergy", "shrimp -> avoid", "i1", 0.8),
        TriggerDraft("food allergy.", "hives after shrimp -> avoid seafood", "i2", 0.75),
        TriggerDraft("food alergy", "", "i1", 0.95),  # a typo: fuzzy match
        TriggerDraft("food allergies", "", "i4", 0.9),  # ratio 0.85: its own group
        TriggerDraft("pottery class", "clay -> hobby", "i3", 0.9),
        TriggerDraft("  ", "x -> y", "i3", 0.9),
    ]
    groups = group_drafts(drafts, RATIO)
    assert groups == [
        TriggerGroup(
            "Food allergy", "hives after shrimp -> avoid seafood", (("i1", 0.95), ("i2", 0.75))
        ),
        TriggerGroup("food allergies", "", (("i4", 0.9),)),
        TriggerGroup("pottery class", "clay -> hobby", (("i3", 0.9),)),
    ]


def test_keep_confident_drops_weak_edges_then_empty_groups() -> None:
    groups = [
        TriggerGroup("a", "", (("i1", 0.9), ("i2", 0.5))),
        TriggerGroup("b", "", (("i3", 0.69),)),
    ]
    assert keep_confident(groups, 0.7) == [TriggerGroup("a", "", (("i1", 0.9),))]


def test_group_triggers_makes_entity_and_bridge_records() -> None:
    ids = iter(["t1", "t2", "t3"])
    triggers = group_triggers(
        [
            TriggerGroup("food allergy", "shrimp -> avoid", (("i1", 0.9),)),
            TriggerGroup("pottery", "", (("i2", 0.8),)),
        ],
        user_id="u",
        new_id=lambda prefix: next(ids),
        provenance=Provenance("extract@2", "m"),
    )
    assert [(t.id, t.family, t.text) for t in triggers] == [
        ("t1", "entity", "food allergy"),
        ("t2", "bridge", "shrimp -> avoid"),
        ("t3", "entity", "pottery"),
    ]
    assert triggers[1].targets == (("i1", 0.9),)


def test_merge_triggers_existing_absorb_new_and_keep_their_id() -> None:
    existing = _trigger("old", "entity", "Food allergy", ("i1", 0.8))
    new = _trigger("new", "entity", "food allergy!", ("i2", 0.9), ("i1", 0.95))
    other_family = _trigger("b", "bridge", "food allergy", ("i3", 0.9))
    merged = merge_triggers([existing, new, other_family], RATIO)
    assert merged == [
        _trigger("old", "entity", "Food allergy", ("i1", 0.95), ("i2", 0.9)),
        _trigger("b", "bridge", "food allergy", ("i3", 0.9)),
    ]


WORDS = st.sampled_from(["food allergy", "food allergies", "pottery", "pottery class", "dog"])
EDGES = st.lists(
    st.tuples(st.sampled_from(["i1", "i2", "i3"]), st.floats(0, 1)), min_size=1, max_size=4
)
TRIGGERS = st.lists(st.tuples(st.sampled_from(["entity", "bridge"]), WORDS, EDGES), max_size=8).map(
    lambda rows: [_trigger(f"t{i}", f, w, *e) for i, (f, w, e) in enumerate(rows)]
)


@given(TRIGGERS)
def test_merge_triggers_is_idempotent(triggers: list[Trigger]) -> None:
    once = merge_triggers(triggers, RATIO)
    assert merge_triggers(once, RATIO) == once


@given(TRIGGERS, st.randoms(use_true_random=False))
def test_merge_ignores_edge_order(triggers: list[Trigger], rng: random.Random) -> None:
    shuffled = [
        _trigger(t.id, t.family, t.text, *rng.sample(list(t.targets), len(t.targets)))
        for t in triggers
    ]
    assert merge_triggers(shuffled, RATIO) == merge_triggers(triggers, RATIO)


@given(TRIGGERS)
def test_merge_keeps_every_edge_at_its_maximum_confidence(triggers: list[Trigger]) -> None:
    merged = merge_triggers(triggers, RATIO)
    best: dict[tuple[str, str], float] = {}
    for trigger in triggers:
        for target, confidence in trigger.targets:
            key = (trigger.family, target)
            best[key] = max(best.get(key, 0.0), confidence)
    out: dict[tuple[str, str], float] = {}
    for trigger in merged:
        assert [t for t, _ in trigger.targets] == sorted({t for t, _ in trigger.targets})
        for target, confidence in trigger.targets:
            key = (trigger.family, target)
            out[key] = max(out.get(key, 0.0), confidence)
    assert out == best


DRAFTS = st.lists(
    st.builds(
        TriggerDraft,
        WORDS,
        st.sampled_from(["", "a -> b", "a longer cue -> a longer inference"]),
        st.sampled_from(["i1", "i2", "i3"]),
        st.floats(-1, 2),
    ),
    max_size=10,
)


@given(DRAFTS)
def test_group_drafts_keeps_every_edge_once_with_clamped_max_confidence(
    drafts: list[TriggerDraft],
) -> None:
    groups = group_drafts(drafts, RATIO)
    norms = [g.concept.lower() for g in groups]
    assert len(norms) == len(set(norms))
    for draft in drafts:
        clamped = min(max(draft.confidence, 0.0), 1.0)
        reached = [c for g in groups for target, c in g.edges if target == draft.item_id]
        assert reached and max(reached) >= clamped
    assert all(0.0 <= c <= 1.0 for g in groups for _, c in g.edges)
