"""The normalised view maps every character back to the original."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tmem.safety.skeleton import skeleton


def test_lookalikes_become_latin_only_inside_mixed_words() -> None:
    assert skeleton("Ign\u043ere").text == "Ignore"
    assert skeleton("\u0441\u043e\u043a").text == "\u0441\u043e\u043a"  # a Russian word stays


def test_invisible_characters_go_and_offsets_follow() -> None:
    view = skeleton("a\u200bb")
    assert view.text == "ab"
    assert view.origin == (0, 2)
    assert view.span(0, 2) == (0, 3)


def test_leet_and_spaced_letters() -> None:
    assert skeleton("1gn0r3 it").text == "ignore it"
    assert skeleton("I g n o r e   a l l").text == "Ignore all"
    assert skeleton("call 555-0100").text == "call 555-0100"


@given(st.text(max_size=200))
def test_origin_is_monotone_and_in_range(text: str) -> None:
    view = skeleton(text)
    assert len(view.origin) == len(view.text)
    assert list(view.origin) == sorted(view.origin)
    assert all(0 <= o < len(text) for o in view.origin)
