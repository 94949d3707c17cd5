"""Merging within a batch and merging into stored triggers compare the same normalised text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from rapidfuzz import fuzz

from tmem.embed.hashing import HashEmbedder
from tmem.ingest.vectors import merge_into_existing
from tmem.models import Trigger
from tmem.store.base import Scored, Store, Vector
from tmem.triggers import concept_norm, merge_triggers

RATIO = 0.9


class _OneTriggerStore:
    """The two store calls the merge makes, answering with one stored trigger."""

    def __init__(self, stored: Trigger) -> None:
        self.stored = stored

    def search_vectors(self, user_id: str, space: str, query: Vector, limit: int) -> list[Scored]:
        return [Scored(self.stored.id, 1.0)] if space == self.stored.family else []

    def triggers_for(self, user_id: str, trigger_ids: Sequence[str]) -> list[Trigger]:
        return [self.stored] if self.stored.id in trigger_ids else []


def test_a_batch_and_the_stored_triggers_merge_the_same_texts() -> None:
    stored = Trigger("trg-old", "u", "entity", "Ben", (("itm-a", 0.8),))
    new = Trigger("trg-new", "u", "entity", "(Ben)", (("itm-b", 0.9),))
    # The old stored-merge normaliser stripped only " .,;:!?\"'" from the ends and kept the
    # parentheses: "(ben)" against "ben" scores 75, below the ratio, so the two paths disagreed.
    assert fuzz.ratio("(ben)", "ben") / 100 < RATIO
    assert concept_norm(new.text) == concept_norm(stored.text) == "ben"

    within_batch = merge_triggers([stored, new], RATIO)
    assert [(t.id, t.targets) for t in within_batch] == [
        ("trg-old", (("itm-a", 0.8), ("itm-b", 0.9)))
    ]

    store = cast(Store, _OneTriggerStore(stored))
    into_stored = merge_into_existing(store, HashEmbedder(16), "u", [new], RATIO)
    assert [(t.id, t.targets) for t in into_stored] == [
        ("trg-old", (("itm-a", 0.8), ("itm-b", 0.9)))
    ]


def test_texts_that_differ_after_normalising_stay_apart_on_both_paths() -> None:
    stored = Trigger("trg-old", "u", "entity", "Ben", (("itm-a", 0.8),))
    new = Trigger("trg-new", "u", "entity", "Benedict", (("itm-b", 0.9),))
    assert len(merge_triggers([stored, new], RATIO)) == 2
    store = cast(Store, _OneTriggerStore(stored))
    assert merge_into_existing(store, HashEmbedder(16), "u", [new], RATIO) == (new,)
