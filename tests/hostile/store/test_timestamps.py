"""Issue 12, defect 1: one timestamp range, checked at the edge, identical on both stores.

On Postgres ``9999-12-31T23:59:59-01:00`` used to be accepted and then made every read of the
user fail ("timestamp too large (after year 10K)"). Now both stores refuse any timestamp whose
UTC instant leaves years 1..9999, and a row stored out of range before the check still reads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from tmem import Memory
from tmem.errors import InputError
from tmem.models import Turn
from tmem.server.schemas import MessageIn
from tmem.store.base import WriteBatch

from .conftest import HASH

OUT_OF_RANGE = [
    "9999-12-31T23:59:59-01:00",  # year 10000 in UTC
    "0001-01-01T00:00:00+01:00",  # year 0 in UTC
    "9999-12-31T23:30:00-00:45",
    "0001-01-01T00:59:59.999999+01:00",
]
EDGES = [
    "9999-12-31T22:59:59-01:00",  # 23:59:59 UTC, the last second of year 9999
    "0001-01-01T01:00:00+01:00",  # 00:00 UTC, the first instant of year 1
    "9999-12-31T23:59:59.999999+00:00",
    "0001-01-01T00:30:00-05:00",
]
CONTROL = [
    "2024-01-01T00:00:00\x00",  # Python's fromisoformat accepts this one
    "2024-01-01\x00T00:00:00",
    "2024-01-01T00:00:00\x1f",
    "2024-01-01T00:00\t:00",
    "2024-01-01T00:00:00\x7f",
    "٢٠٢٤-01-01T00:00:00",  # Arabic-Indic digits
]


def _message(i: int, timestamp: str) -> dict[str, str]:
    return {"id": f"m{i}", "speaker": "Ana", "content": f"note {i} about {timestamp!r}",
            "timestamp": timestamp}  # fmt: skip


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE + CONTROL)
def test_refused_timestamps_write_nothing_and_leave_the_user_readable(
    store_url: str, timestamp: str
) -> None:
    with Memory.open(store_url, HASH) as mem:
        mem.add([_message(0, "2024-05-01T10:00:00Z")], user_id="ana")
        with pytest.raises(InputError, match="timestamp"):
            mem.add([_message(1, "2024-05-01T10:01:00Z"), _message(2, timestamp)], user_id="ana")
        assert [r.id for r in mem.list("ana", "turn")] == ["m0"]
        mem.add([_message(3, "2024-05-01T10:02:00Z")], user_id="ana")
        assert [r.id for r in mem.list("ana", "turn")] == ["m0", "m3"]
        assert len(list(mem.export("ana"))) > 1


def test_the_edges_of_the_range_are_kept_exactly_and_every_read_works(store_url: str) -> None:
    with Memory.open(store_url, HASH) as mem:
        mem.add([_message(i, ts) for i, ts in enumerate(EDGES)], user_id="ana")
        turns = {r.id: r for r in mem.list("ana", "turn")}
        for i, text in enumerate(EDGES):
            stored = turns[f"m{i}"]
            assert isinstance(stored, Turn)
            assert stored.timestamp == datetime.fromisoformat(text)
            assert stored.timestamp.utcoffset() == datetime.fromisoformat(text).utcoffset()
        assert mem.get("m0", "ana").id == "m0"
        history = mem.history("m0", "ana")
        assert [(h.event, h.at) for h in history] == [("created", datetime.fromisoformat(EDGES[0]))]
        assert {h.id for h in mem.search("note about", user_id="ana", limit=10)} >= {"m0", "m1"}
        exported = list(mem.export("ana"))
        mem.import_records(exported, user_id="copy")
        assert [r.timestamp for r in mem.list("copy", "turn")] == [
            r.timestamp for r in mem.list("ana", "turn")
        ]
        assert mem.delete("m0", "ana") >= 1


def test_a_fractional_second_offset_is_refused(store_url: str) -> None:
    odd = datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=1, microseconds=5)))
    with Memory.open(store_url, HASH) as mem, pytest.raises(InputError, match="offset"):
        mem.add([{"speaker": "Ana", "content": "x", "timestamp": odd}], user_id="ana")


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE + CONTROL)
def test_import_refuses_the_same_timestamps(store_url: str, timestamp: str) -> None:
    with Memory.open(store_url, HASH) as mem:
        mem.add([_message(0, "2024-05-01T10:00:00Z")], user_id="ana")
        header, *rows = mem.export("ana")
        bad = [header, *({**r, "timestamp": timestamp} if r["type"] == "turn" else r for r in rows)]
        with pytest.raises(InputError, match="timestamp"):
            mem.import_records(bad, user_id="copy")
        assert mem.list("copy") == []


def test_a_row_stored_out_of_range_before_the_check_still_reads(store_url: str) -> None:
    """Bypass the edge, as an older tmem did: list, get, search, export, import, delete work."""
    beyond = datetime.fromisoformat("9999-12-31T23:59:59-01:00")
    with Memory.open(store_url, HASH) as mem:
        mem.add([_message(0, "2024-05-01T10:00:00Z")], user_id="ana")
        poisoned = Turn(id="old", user_id="ana", session_id="s", seq=99, speaker="Ana",
                        content="written before the check", timestamp=beyond)  # fmt: skip
        mem.store.write(WriteBatch(user_id="ana", at=datetime.now(UTC), turns=(poisoned,)))
        listed = {r.id: r for r in mem.list("ana")}
        assert listed["old"].timestamp == datetime.max.replace(tzinfo=UTC)
        old = mem.get("old", "ana")
        assert isinstance(old, Turn) and old.content == "written before the check"
        assert "old" in {h.id for h in mem.search("written before the check", user_id="ana")}
        exported = list(mem.export("ana"))
        assert mem.import_records(exported, user_id="copy") == len(exported) - 1
        assert {r.id for r in mem.list("copy")} == set(listed)
        assert mem.delete("old", "ana") >= 1
        assert "old" not in {r.id for r in mem.list("ana")}


@pytest.mark.parametrize("timestamp", OUT_OF_RANGE + CONTROL)
def test_the_rest_schema_refuses_them_with_a_validation_error(timestamp: str) -> None:
    with pytest.raises(ValidationError, match="timestamp"):
        MessageIn.model_validate({"speaker": "Ana", "content": "x", "timestamp": timestamp})
