"""The key-value mapping under the LangGraph store: ids, the stored envelope, filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from tmem.errors import InputError
from tmem.integrations.keyvalue import (
    PREFIX,
    SESSION_PREFIX,
    Stored,
    check_filter,
    decode,
    encode,
    ends_with,
    item_id,
    matches,
    starts_with,
)
from tmem.models import Item, Turn
from tmem.validate import id_problem

CREATED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
UPDATED = datetime(2025, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
VALUE = {"text": "Ben is allergic to shellfish", "tags": ["diet", "Ben"], "n": 2.5, "ok": None}


def turn(item: Stored, **changes: str) -> Turn:
    fields = {"id": item.id, "session_id": item.session, "content": item.content, **changes}
    return Turn(user_id="ana", seq=0, speaker="langgraph", timestamp=UPDATED, **fields)


def test_a_json_value_comes_back_from_its_turn_exactly() -> None:
    namespace = ("ana", "memories")
    item = encode(namespace, "diet", VALUE, CREATED)
    assert json.loads(item.content) == VALUE  # the content is the value and nothing else
    found = decode(turn(item))
    assert found is not None
    assert (found.namespace, found.key, found.value) == (namespace, "diet", VALUE)
    assert (found.created_at, found.updated_at) == (CREATED, UPDATED)


@pytest.mark.parametrize("name", ["text", "food_preference", "", "a.b~c/d%e f"])
def test_a_one_string_value_is_stored_as_its_text(name: str) -> None:
    value = {name: "  Ben is allergic to shellfish, café in Zürich.\n"}
    item = encode(("ana",), "k", value, CREATED)
    assert item.content == value[name]  # what tmem embeds and indexes: the sentence itself
    found = decode(turn(item))
    assert found is not None and found.value == value


@pytest.mark.parametrize(
    "value",
    [{"text": ""}, {"text": "   "}, {"text": "a\x00b"}, {"text": 3}, {"a": "x", "b": "y"}, {}],
)
def test_other_values_are_stored_as_json(value: dict[str, object]) -> None:
    item = encode(("ana",), "k", value, CREATED)
    assert json.loads(item.content) == value
    found = decode(turn(item))
    assert found is not None and found.value == value


def test_the_session_locates_the_item_and_fits_an_id() -> None:
    created = datetime(2025, 3, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    namespace = ("ana", "a/b", "x y", "wave~🌊", "%41")
    key = "report 1/2.v3~final\\"
    item = encode(namespace, key, {"a": 1}, created)
    assert item.session.startswith(SESSION_PREFIX) and id_problem(item.session) is None
    found = decode(turn(item))
    assert found is not None and (found.namespace, found.key) == (namespace, key)
    assert found.created_at == created and found.created_at.utcoffset() == timedelta(0)
    with pytest.raises(InputError, match="at most 200 fit"):
        encode(("ana",), "k" * 170, {"a": 1}, CREATED)


def test_ids_differ_by_namespace_and_key_and_never_split_on_separators() -> None:
    ids = {
        item_id(("ana", "a"), "b"),
        item_id(("ana",), "a/b"),
        item_id(("ana", "a/b"), "c"),
        item_id(("ana", "a", "b"), "c"),
        item_id(("ana", "memories"), "diet"),
        item_id(("ben", "memories"), "diet"),
    }
    assert len(ids) == 6
    assert all(i.startswith(PREFIX) and len(i) == len(PREFIX) + 40 and "/" not in i for i in ids)
    assert item_id(("ana", "memories"), "diet") == item_id(["ana", "memories"], "diet")


def test_anything_but_the_item_at_that_id_is_not_an_item() -> None:
    item = encode(("ana",), "k", {"a": 1}, CREATED)
    other = encode(("ana",), "other", {"a": 1}, CREATED)
    assert decode(turn(item, id="t1")) is None  # a conversation turn
    assert decode(turn(item, session_id="s1")) is None
    assert decode(turn(item, session_id=other.session)) is None  # the key does not match the id
    assert decode(turn(item, session_id=item.session.replace("2025", "soon"))) is None
    assert decode(turn(item, session_id=item.session.replace("~j~", "~x~"))) is None
    assert decode(turn(item, content="edited into plain text")) is None
    assert decode(turn(item, content="[1, 2]")) is None
    derived = Item(id=item.id, user_id="ana", content=item.content, timestamp=UPDATED,
                   scene_ids=(), source_turns=())  # fmt: skip
    assert decode(derived) is None


def test_values_that_are_not_json_objects_are_refused_naming_the_key() -> None:
    with pytest.raises(InputError, match="mapping"):
        encode(("ana",), "k", ["not", "a", "dict"], CREATED)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"'k'.*not JSON-serializable"):
        encode(("ana",), "k", {"when": datetime(2025, 1, 1)}, CREATED)


def test_namespace_patterns_match_label_by_label_with_wildcards() -> None:
    space = ("ana", "memories", "food")
    assert starts_with(space, ("ana",)) and starts_with(space, ("*", "memories"))
    assert not starts_with(space, ("ana", "food")) and not starts_with(("ana",), ("ana", "x"))
    assert ends_with(space, ("food",)) and ends_with(space, ("memories", "*"))
    assert not ends_with(space, ("memories",)) and not ends_with(("food",), ("ana", "food"))


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"n": 2.5}, True),
        ({"n": {"$gte": 2, "$lt": 3}}, True),
        ({"n": {"$gt": 2.5}}, False),
        ({"n": {"$ne": 3}}, True),
        ({"text": {"$gt": "A"}}, True),  # strings order as strings
        ({"text": {"$gt": 1}}, False),  # a string and a number never order
        ({"missing": {"$lt": 10}}, False),
        ({"missing": None}, True),  # as LangGraph: a missing field equals None
        ({"tags": ["diet", "Ben"]}, True),
        ({"tags": ["diet"]}, False),
        ({"nested": {"level": {"$eq": 1}}}, True),
        ({"nested": {"level": 2}}, False),
        ({"ok": {"$eq": None}}, True),
        ({"flag": {"$gt": 0}}, False),  # booleans are not numbers here
    ],
)
def test_filters_follow_langgraph_semantics(conditions: dict[str, object], expected: bool) -> None:
    value = {**VALUE, "nested": {"level": 1}, "flag": True}
    check_filter(conditions)
    assert matches(value, conditions) is expected


@pytest.mark.parametrize(
    "conditions", [{"n": {"$in": [1, 2]}}, {"n": {"$gt": 1, "other": 2}}, {"a": {"b": {"$x": 1}}}]
)
def test_filters_with_unknown_or_mixed_operators_are_refused(conditions: dict[str, object]) -> None:
    with pytest.raises(InputError, match="unsupported filter operator"):
        check_filter(conditions)
