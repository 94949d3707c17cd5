from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tmem.errors import InputError
from tmem.ingest.normalize import MAX_STORE_USER_CHARS, check_user_id, parse_timestamp, to_messages
from tmem.models import Message


@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))])))
def test_parse_timestamp_round_trips_iso(moment: datetime) -> None:
    assert parse_timestamp(moment.isoformat()) == moment


@given(st.datetimes())
def test_naive_timestamps_are_utc(moment: datetime) -> None:
    parsed = parse_timestamp(moment.isoformat())
    assert parsed.tzinfo is not None
    assert parsed == moment.replace(tzinfo=UTC)


def test_parse_timestamp_accepts_z_and_space() -> None:
    assert parse_timestamp("2023-05-08T13:56:00Z") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
    assert parse_timestamp("2023-05-08 13:56") == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "yesterday", "8 May 2023", "2023-13-01", "2023-05-08T25:00"])
def test_parse_timestamp_rejects_non_iso(bad: str) -> None:
    with pytest.raises(InputError):
        parse_timestamp(bad)


def test_to_messages_accepts_dicts_messages_and_role() -> None:
    messages = to_messages(
        [
            {"speaker": "Ana", "content": "hi", "id": "a1", "timestamp": "2024-01-01T00:00:00"},
            Message(speaker="Ben", content="hello"),
            {"role": "user", "content": "from a chat log"},
            {"speaker": "Ana", "content": "numeric id", "id": 7},
        ]
    )
    assert [m.speaker for m in messages] == ["Ana", "Ben", "user", "Ana"]
    assert messages[0].timestamp == datetime(2024, 1, 1, tzinfo=UTC)
    assert messages[3].id == "7"


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"speaker": "A"}, "content"),
        ({"speaker": "A", "content": "   "}, "empty"),
        ({"speaker": "A", "content": "x", "extra": 1}, "unknown field"),
        ({"speaker": "A", "content": "x", "timestamp": "soon"}, "ISO 8601"),
        ({"speaker": "A", "content": "x", "timestamp": 12}, "ISO 8601"),
        ({"speaker": 3, "content": "x"}, "speaker"),
        ({"speaker": "A", "content": "a\x00b"}, "NUL"),
        ({"speaker": "A", "content": "x", "id": ""}, "id"),
    ],
)
def test_to_messages_rejects_bad_messages_with_a_clear_error(
    raw: dict[str, object], fragment: str
) -> None:
    with pytest.raises(InputError, match=fragment):
        to_messages([{"speaker": "A", "content": "fine"}, raw])  # type: ignore[list-item]


def test_duplicate_ids_in_one_batch_are_rejected() -> None:
    with pytest.raises(InputError, match="duplicate id"):
        to_messages(
            [
                {"speaker": "A", "content": "x", "id": "1"},
                {"speaker": "B", "content": "y", "id": "1"},
            ]
        )


def test_messages_must_be_a_list() -> None:
    with pytest.raises(InputError):
        to_messages({"speaker": "A", "content": "x"})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "   ", "a\nb", "x" * (MAX_STORE_USER_CHARS + 1), None, 5])
def test_check_user_id_rejects_unusable_ids(bad: object) -> None:
    with pytest.raises(InputError):
        check_user_id(bad)


def test_check_user_id_accepts_unicode() -> None:
    assert check_user_id("Zoë-1") == "Zoë-1"
