from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tmem.models import PersonaProfile
from tmem.persona import PersonaDelta, merge_delta

AT = datetime(2024, 3, 4, tzinfo=UTC)


def test_identity_overwrites_whitelisted_keys_only() -> None:
    profile = PersonaProfile("u", "Mel", identity=(("occupation", "baker"),))
    merged = merge_delta(
        profile,
        PersonaDelta(
            "Mel",
            identity=(
                ("Occupation", "nurse"),
                ("Current Location", "Leeds"),
                ("shoe size", "6"),
                ("age", " "),
            ),
        ),
        AT,
    )
    assert merged.identity == (("occupation", "nurse"), ("current_location", "Leeds"))
    assert merged.updated_at == AT


def test_preferences_append_dedupe_and_keep_last_five() -> None:
    profile = PersonaProfile("u", "Mel", preferences=(("hobbies", ("hiking", "chess")),))
    delta = PersonaDelta(
        "Mel", preferences=(("Hobbies", ("Chess", "pottery", "running", "yoga", "piano")),)
    )
    merged = merge_delta(profile, delta)
    assert merged.preferences == (("hobbies", ("Chess", "pottery", "running", "yoga", "piano")),)


def test_traits_keep_last_three() -> None:
    delta = PersonaDelta("Mel", traits=(("values", ("family", "honesty", "rest", "courage")),))
    assert merge_delta(PersonaProfile("u", "Mel"), delta).traits == (
        ("values", ("honesty", "rest", "courage")),
    )


def test_relations_merge_by_person_newest_description_wins() -> None:
    profile = PersonaProfile("u", "Mel", relations=(("Jo", "friend"), ("Sam", "brother")))
    merged = merge_delta(
        profile, PersonaDelta("Mel", relations=(("jo", "best friend"), ("Ana", "coworker")))
    )
    assert merged.relations == (("Jo", "best friend"), ("Sam", "brother"), ("Ana", "coworker"))


def test_protected_values_are_never_evicted_and_do_not_count() -> None:
    profile = PersonaProfile("u", "Mel", traits=(("values", ("family", "honesty")),))
    delta = PersonaDelta("Mel", traits=(("values", ("rest", "courage", "humour")),))
    merged = merge_delta(profile, delta, protected=[("traits", "Values", "Family")])
    assert merged.traits == (("values", ("family", "rest", "courage", "humour")),)
    assert merge_delta(profile, delta).traits == (("values", ("rest", "courage", "humour")),)


KEYS = st.sampled_from(["hobbies", "Hobbies", "favorite foods", "values"])
VALUES = st.lists(
    st.sampled_from(["chess", "Chess", "yoga", "tea", "rest", "", "jazz"]), max_size=7
)
DELTAS = st.builds(
    PersonaDelta,
    st.just("Mel"),
    st.lists(st.tuples(st.sampled_from(["age", "occupation", "shoe"]), st.text(max_size=5))).map(
        tuple
    ),
    st.lists(st.tuples(KEYS, VALUES.map(tuple))).map(tuple),
    st.lists(st.tuples(KEYS, VALUES.map(tuple))).map(tuple),
    st.lists(st.tuples(st.sampled_from(["Jo", "jo", "Sam"]), st.sampled_from(["a", "b"]))).map(
        tuple
    ),
)


@given(DELTAS)
def test_merging_a_delta_twice_equals_merging_it_once(delta: PersonaDelta) -> None:
    once = merge_delta(PersonaProfile("u", "Mel"), delta)
    assert merge_delta(once, delta) == once
    assert all(len(values) <= 5 for _, values in once.preferences)
    assert all(len(values) <= 3 for _, values in once.traits)
    assert {key for key, _ in once.identity} <= {"age", "occupation"}
