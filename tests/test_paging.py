"""Page cursors (tmem.paging): opaque, versioned, bound to their listing, checked on the way in."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.errors import InputError
from tmem.paging import Position, Walk, _signature, cursor_for, position_of
from tmem.store.keyset import export_walk, history_walk, list_walk
from tmem.validate import MAX_CURSOR_CHARS

WALK = list_walk("acme/ana", None)
AT = Position("scene", (42, "scn_1f"))


def _decode(cursor: str) -> dict[str, Any]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    payload: dict[str, Any] = json.loads(raw)
    return payload


def _encode(payload: dict[str, Any]) -> str:
    text = json.dumps(payload)  # ASCII: a lone surrogate travels as an escape, as a forger's would
    return base64.urlsafe_b64encode(text.encode("ascii")).decode().rstrip("=")


def _forged(walk: Walk, section: Any, key: Any, **changes: Any) -> str:
    """A cursor with a correct signature for anything: what someone who read this module can
    make. Only the checks after the signature stand between it and the store."""
    at = [section, key]
    return _encode({"v": 1, "op": walk.op, "at": at, "sig": _signature(walk, at), **changes})


def test_a_cursor_is_url_safe_text_that_reads_back_to_its_position() -> None:
    cursor = cursor_for(WALK, AT)
    assert cursor is not None and set(cursor) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    )
    assert _decode(cursor)["v"] == 1 and _decode(cursor)["at"] == ["scene", [42, "scn_1f"]]
    assert position_of(WALK, cursor) == AT
    assert position_of(WALK, None) is None and cursor_for(WALK, None) is None


@given(
    seq=st.integers(-(2**63), 2**63 - 1),
    id=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=200
    ),
)
def test_any_key_a_store_can_hold_round_trips(seq: int, id: str) -> None:
    position = Position("turn", (seq, id))
    cursor = cursor_for(WALK, position)
    assert cursor is not None and len(cursor) <= MAX_CURSOR_CHARS
    assert position_of(WALK, cursor) == position


@pytest.mark.parametrize(
    "other",
    [
        list_walk("acme/ben", None),  # another user
        list_walk("globex/ana", None),  # the same user id in another tenant
        list_walk("acme/ana", "scene"),  # another kind
    ],
)
def test_a_cursor_of_another_listing_is_refused(other: Walk) -> None:
    cursor = cursor_for(other, AT)
    with pytest.raises(InputError, match="another listing"):
        position_of(WALK, cursor)


def test_a_cursor_of_another_operation_says_which() -> None:
    cursor = cursor_for(export_walk("acme/ana"), Position("turn", (1, "t1")))
    with pytest.raises(InputError, match="this cursor pages 'export', not 'list'"):
        position_of(WALK, cursor)
    history = cursor_for(history_walk("acme/ana", "t1"), Position("version", (2,)))
    with pytest.raises(InputError, match="another listing"):
        position_of(history_walk("acme/ana", "t2"), history)


def test_an_altered_cursor_is_refused() -> None:
    cursor = cursor_for(WALK, AT)
    assert cursor is not None
    payload = _decode(cursor)
    moved = _encode({**payload, "at": ["scene", [43, "scn_1f"]]})
    with pytest.raises(InputError, match="altered"):
        position_of(WALK, moved)
    for index in range(0, len(cursor), 7):  # any one character changed
        changed = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
        with pytest.raises(InputError):
            position_of(WALK, changed)


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not a cursor!",
        "abc",  # base64 of two bytes that are not UTF-8
        "abcde",  # not base64 at all (one character too many for whole bytes)
        "x" * (MAX_CURSOR_CHARS + 1),
        _encode({"v": 1}),  # missing fields
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),  # not UTF-8
        base64.urlsafe_b64encode(b"[1, 2]").decode().rstrip("="),  # not an object
        _encode({"v": 1, "op": "list", "at": [], "sig": "", "extra": 1}),
    ],
)
def test_text_that_is_not_a_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InputError, match="not a tmem page cursor"):
        position_of(WALK, cursor)


def test_a_cursor_of_another_format_version_says_so() -> None:
    with pytest.raises(InputError, match="cursor format 2 is not one this tmem reads"):
        position_of(WALK, _forged(WALK, "scene", [1, "x"], v=2))


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ("scene", [1]),  # too short
        ("scene", [1, "x", 2]),  # too long
        ("scene", ["1", "x"]),  # a string where the counter goes
        ("scene", [True, "x"]),  # a bool is not a counter
        ("scene", [1.5, "x"]),
        ("scene", [2**63, "x"]),  # does not fit a 64-bit column
        ("scene", [1, "a\x00b"]),  # NUL: no store holds it
        ("scene", [1, "\ud800"]),  # a lone surrogate: not text a store can compare
        ("scene", [1, "x" * 1001]),
        ("scene", [1, None]),
        ("trigger", ["x"]),  # not a section of this walk
        (["scene"], [1, "x"]),
        ("scene", {"a": 1}),
    ],
)
def test_a_forged_cursor_with_a_valid_signature_still_cannot_reach_the_store(
    section: Any, key: Any
) -> None:
    with pytest.raises(InputError):
        position_of(WALK, _forged(WALK, section, key))
