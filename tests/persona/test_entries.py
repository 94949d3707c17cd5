"""Stored persona entries: extraction merges, hand edits and the protection of pinned and
hand-written entries (pure; the stores' side is tests/store/test_contract_persona.py)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.errors import InputError, NotFoundError
from tmem.models import PersonaEntry, PersonaProfile
from tmem.persona import PersonaDelta, PersonaEdit, apply_edit, merge_delta, merge_entries
from tmem.persona.entries import legacy_entry_id, profile_of, profiles

AT = datetime(2025, 3, 1, tzinfo=UTC)
LATER = datetime(2025, 4, 1, tzinfo=UTC)


def ids() -> itertools.count[int]:
    return itertools.count(1)


def merged(
    found: Sequence[PersonaEntry], *deltas: PersonaDelta, at: datetime = AT
) -> list[PersonaEntry]:
    """``found`` after ``deltas``, as a store would hold it (by speaker, then position)."""
    counter = ids()
    change = merge_entries(
        found, deltas, user_id="u", at=at, new_id=lambda: f"per_{at.month}_{next(counter)}"
    )
    gone = {e.id for e in change.erased}
    current = {e.id: e for e in found if e.id not in gone}
    current.update((e.id, e) for e in change.written)
    return sorted(current.values(), key=lambda e: (e.speaker, e.position, e.id))


def by_value(found: Sequence[PersonaEntry]) -> dict[str, PersonaEntry]:
    return {e.value: e for e in found}


def test_new_entries_are_the_models_with_their_turns_in_profile_order() -> None:
    delta = PersonaDelta(
        "Mel",
        identity=(("Occupation", "nurse"), ("shoe size", "6")),
        preferences=(("hobbies", ("chess", "yoga")),),
        relations=(("Jo", "sister"),),
        source_turns=("t1", "t2"),
    )
    found = merged([], delta)
    assert [(e.section, e.key, e.value, e.position) for e in found] == [
        ("identity", "occupation", "nurse", 0),
        ("preferences", "hobbies", "chess", 1),
        ("preferences", "hobbies", "yoga", 2),
        ("relations", "Jo", "sister", 3),
    ]
    assert {(e.origin, e.pinned, e.source_turns, e.created_at) for e in found} == {
        ("model", False, ("t1", "t2"), AT)
    }
    # The entries make the profile T-Mem's merge makes, sources included.
    want = merge_delta(PersonaProfile("u", "Mel"), delta, AT)
    sources = tuple((e.section, e.key, e.value, e.source_turns) for e in found)
    assert profiles(found) == [replace(want, sources=sources)]


def test_a_change_lists_only_new_and_changed_entries() -> None:
    found = merged([], PersonaDelta("Mel", identity=(("occupation", "nurse"),)))
    same = merge_entries(
        found, [PersonaDelta("mel", identity=(("occupation", "Nurse"),))], user_id="u", at=LATER
    )
    assert same.written == same.erased == () and same.created == frozenset()
    change = merge_entries(
        found,
        [
            PersonaDelta("Tom", traits=(("personality", ("calm",)),)),
            PersonaDelta(" ", identity=(("age", "1"),)),
        ],
        user_id="u",
        at=LATER,
    )
    assert [(e.speaker, e.value) for e in change.written] == [("Tom", "calm")]
    assert change.created == {change.written[0].id}


def test_restating_an_entry_adds_its_turns_and_moves_nothing_else() -> None:
    first = merged(
        [], PersonaDelta("Mel", identity=(("occupation", "nurse"),), source_turns=("t1",))
    )
    again = PersonaDelta("Mel", identity=(("occupation", "nurse"),), source_turns=("t5",))
    (entry,) = merged(first, again, at=LATER)
    assert (entry.id, entry.source_turns, entry.updated_at) == (first[0].id, ("t1", "t5"), LATER)
    assert entry.created_at == AT


def test_a_value_the_model_overwrites_is_erased_and_the_new_one_created() -> None:
    found = merged([], PersonaDelta("Mel", identity=(("occupation", "nurse"),)))
    change = merge_entries(
        found, [PersonaDelta("Mel", identity=(("occupation", "surgeon"),))], user_id="u", at=LATER
    )
    assert change.erased == tuple(found)
    assert [e.value for e in change.written] == ["surgeon"] and len(change.created) == 1


def test_an_entry_created_and_evicted_by_one_call_is_never_written() -> None:
    deltas = [PersonaDelta("Mel", traits=(("values", (v,)),)) for v in ("a", "b", "c", "d")]
    change = merge_entries([], deltas, user_id="u", at=AT)
    assert [e.value for e in change.written] == ["b", "c", "d"]
    assert change.erased == ()


def test_pinned_and_hand_written_entries_survive_what_the_model_says() -> None:
    found = merged(
        [],
        PersonaDelta(
            "Mel",
            identity=(("occupation", "nurse"),),
            traits=(("values", ("family", "honesty", "rest")),),
            relations=(("Jo", "sister"),),
            source_turns=("t1",),
        ),
    )
    values = by_value(found)
    kept = [
        replace(values["nurse"], pinned=True),
        replace(values["family"], pinned=True),
        replace(values["sister"], value="older sister", origin="hand"),
        values["honesty"],
        values["rest"],
    ]
    later = merged(
        kept,
        PersonaDelta(
            "mel",
            identity=(("occupation", "surgeon"),),
            traits=(("values", ("courage", "humour", "thrift")),),
            relations=(("jo", "cousin"), ("Sam", "brother")),
            source_turns=("t9",),
        ),
        at=LATER,
    )
    got = [(e.section, e.key, e.value) for e in later]
    assert ("identity", "occupation", "nurse") in got  # pinned: never overwritten
    assert ("relations", "Jo", "older sister") in got  # hand-written: never replaced
    assert ("relations", "Sam", "brother") in got
    # The pinned value stays and does not count toward the three traits the model keeps.
    assert [v for s, k, v in got if s == "traits"] == ["family", "courage", "humour", "thrift"]
    after = by_value(later)
    assert after["nurse"].id == values["nurse"].id and after["nurse"].source_turns == ("t1",)


def test_a_protected_entry_the_model_states_again_gains_the_turn() -> None:
    (entry,) = merged([], PersonaDelta("Mel", identity=(("occupation", "nurse"),)))
    hand = replace(entry, origin="hand")
    (again,) = merged(
        [hand],
        PersonaDelta("Mel", identity=(("occupation", "Nurse"),), source_turns=("t4",)),
        at=LATER,
    )
    assert (again.value, again.origin, again.source_turns) == ("nurse", "hand", ("t4",))


SPEAKERS = st.sampled_from(["Mel", "mel", "Tom"])
KEYS = st.sampled_from(["hobbies", "values", "Favourite foods"])
VALUES = st.lists(st.sampled_from(["chess", "Chess", "tea", "rest", "jazz", "yoga"]), max_size=4)
DELTAS = st.builds(
    PersonaDelta,
    SPEAKERS,
    st.lists(st.tuples(st.sampled_from(["age", "occupation"]), st.sampled_from(["a", "b"]))).map(
        tuple
    ),
    st.lists(st.tuples(KEYS, VALUES.map(tuple)), max_size=2).map(tuple),
    st.lists(st.tuples(KEYS, VALUES.map(tuple)), max_size=2).map(tuple),
    st.lists(st.tuples(st.sampled_from(["Jo", "jo", "Sam"]), st.sampled_from(["x", "y"]))).map(
        tuple
    ),
    st.lists(st.sampled_from(["t1", "t2", "t3"]), max_size=2, unique=True).map(tuple),
)


@given(st.lists(DELTAS, min_size=1, max_size=3), st.lists(DELTAS, max_size=4), st.data())
def test_no_delta_ever_changes_or_removes_a_protected_entry(
    first: list[PersonaDelta], later: list[PersonaDelta], data: st.DataObject
) -> None:
    found = merged([], *first)
    chosen = data.draw(st.lists(st.sampled_from(found), unique=True) if found else st.just([]))
    guarded = {e.id: replace(e, pinned=True) for e in chosen}
    start = [guarded.get(e.id, e) for e in found]
    after = {e.id: e for e in merged(start, *later, at=LATER)}
    for entry in guarded.values():
        kept = after[entry.id]
        assert (kept.speaker, kept.section, kept.key, kept.value, kept.pinned) == (
            entry.speaker, entry.section, entry.key, entry.value, True
        )  # fmt: skip
        assert set(entry.source_turns) <= set(kept.source_turns)


@given(DELTAS)
def test_merging_a_delta_twice_equals_merging_it_once(delta: PersonaDelta) -> None:
    once = merged([], delta)
    assert merged(once, delta, at=LATER) == once


# --- by hand ----------------------------------------------------------------------------------
def edit(
    found: Sequence[PersonaEntry], **fields: object
) -> tuple[PersonaEntry | None, PersonaEntry]:
    outcome = apply_edit(
        found,
        PersonaEdit(**fields),
        user_id="u",
        at=LATER,
        new_id=lambda: "per_new",  # type: ignore[arg-type]
    )
    return outcome.before, outcome.after


def test_a_slot_takes_the_entry_already_there() -> None:
    found = merged([], PersonaDelta("Mel", identity=(("occupation", "nurse"),),
                                    preferences=(("hobbies", ("Chess",)),)))  # fmt: skip
    values = by_value(found)
    before, after = edit(found, speaker="MEL", section="identity", key="Occupation", value="vet")
    assert before == values["nurse"]
    assert after == replace(values["nurse"], value="vet", origin="hand", updated_at=LATER)
    before, after = edit(found, speaker="Mel", section="preferences", key="hobbies", value="chess")
    assert before == values["Chess"] and (after.value, after.origin) == ("chess", "hand")


def test_a_new_slot_makes_a_hand_written_entry_after_the_speakers_others() -> None:
    found = merged([], PersonaDelta("Mel", identity=(("occupation", "nurse"),)))
    before, after = edit(
        found, speaker=" mel ", section="preferences", key="Favourite Foods", value=" figs ",
        pinned=True,
    )  # fmt: skip
    assert before is None
    assert after == PersonaEntry("per_new", "u", "Mel", "preferences", "favourite_foods", "figs",
                                 (), True, "hand", LATER, LATER, 1)  # fmt: skip
    _, relation = edit([], speaker="Mel", section="relations", key=" Jo Ann ", value="aunt")
    assert (relation.key, relation.position) == ("Jo Ann", 0)


def test_an_edit_by_id_changes_value_and_pin_only() -> None:
    found = merged([], PersonaDelta("Mel", identity=(("occupation", "nurse"),)))
    _, pinned = edit(found, id=found[0].id, pinned=True)
    assert pinned == replace(found[0], pinned=True, updated_at=LATER)
    assert pinned.origin == "model"  # a pin keeps the model's text, and says so
    _, same = edit([pinned], id=pinned.id, pinned=True)
    assert same == pinned  # nothing to change: not even the time


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"id": "per_x", "value": "a"}, NotFoundError),
        ({"id": "x", "speaker": "Mel", "value": "a"}, InputError),
        ({"speaker": "Mel", "section": "identity", "value": "a"}, InputError),
        ({"speaker": "Mel", "section": "identity", "key": "age"}, InputError),
        ({"speaker": "Mel", "section": "hobbies", "key": "age", "value": "a"}, InputError),
        ({"speaker": "Mel", "section": "traits", "key": " - ", "value": "a"}, InputError),
    ],
)
def test_malformed_edits_are_refused(fields: dict[str, object], error: type[Exception]) -> None:
    with pytest.raises(error):
        edit([], **fields)


def test_a_value_another_entry_of_the_key_holds_is_refused() -> None:
    found = merged([], PersonaDelta("Mel", preferences=(("hobbies", ("chess", "yoga")),)))
    with pytest.raises(InputError, match="already holds"):
        edit(found, id=by_value(found)["yoga"].id, value="Chess")


def test_profile_order_follows_positions() -> None:
    found = merged([], PersonaDelta("Mel", preferences=(("hobbies", ("chess", "yoga")),)))
    swapped = [replace(found[0], position=5), found[1]]
    assert profile_of("u", "Mel", swapped).preferences == (("hobbies", ("yoga", "chess")),)


def test_legacy_ids_are_the_same_for_the_same_entry_only() -> None:
    one = legacy_entry_id("Mel", "identity", "occupation", "nurse")
    assert one == legacy_entry_id("Mel", "identity", "occupation", "nurse")
    assert one != legacy_entry_id("Mel", "identity", "occupation", "nurses")
    assert one != legacy_entry_id("Mel", "identity", "occupationn", "urse")
    assert one.startswith("per_") and len(one) == 20
