"""Records <-> export dicts, time keys and the header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given

from tmem.errors import InputError
from tmem.models import HistoryEntry, PersonaProfile
from tmem.store import codec
from tmem.store.base import VectorRow

from .records import T0, item, moments, scene, trigger, turn, unit


def test_records_survive_the_dict_form() -> None:
    t = turn("u", 3, "hi")
    assert codec.turn_from_dict("u", codec.turn_to_dict(t)) == t
    s = scene("u", "s", ("t",), "n")
    assert codec.scene_from_dict("u", codec.scene_to_dict(s)) == s
    i = item("u", "i", "c", scenes=("s",), turns=("t",), keywords=("k",))
    assert codec.item_from_dict("u", codec.item_to_dict(i)) == i
    g = trigger("u", "g", "concept", "i", "s")
    assert codec.trigger_from_dict("u", codec.trigger_to_dict(g)) == g
    p = PersonaProfile("u", "bob", (("job", "cook"),), (("food", ("rice", "tea")),), updated_at=T0)
    assert codec.persona_from_dict("u", codec.persona_to_dict(p)) == p
    h = HistoryEntry("i", 2, "updated", "text", T0, "why")
    assert codec.history_from_dict(codec.history_to_dict(h)) == h


def test_vectors_are_base64_float32() -> None:
    row = VectorRow("o", "item", unit(1, 2))
    data = codec.vector_to_dict(row)
    back = codec.vector_from_dict(data)
    assert data["dim"] == 8 and back.vector.dtype == np.float32
    assert np.array_equal(back.vector, row.vector)


@given(moments, moments)
def test_time_key_orders_instants_across_offsets(a: datetime, b: datetime) -> None:
    assert (codec.time_key(a) < codec.time_key(b)) == (a < b)
    assert codec.decode_time(codec.encode_time(a)).utcoffset() == a.utcoffset()


def test_naive_times_are_utc() -> None:
    naive = datetime(2024, 1, 1, 12)
    assert codec.decode_time(codec.encode_time(naive)) == naive.replace(tzinfo=UTC)
    east = datetime(2024, 1, 1, 14, tzinfo=timezone(timedelta(hours=2)))
    assert codec.time_key(east) == codec.time_key(naive)


def test_header_checks() -> None:
    header = codec.export_header(("minilm", 384), T0)
    assert codec.header_embedder(header) == ("minilm", 384)
    assert codec.split_export([header, {"type": "turn"}]) == (("minilm", 384), [{"type": "turn"}])
    assert codec.split_export([]) == (None, [])
    with pytest.raises(InputError):
        codec.header_embedder({**header, "version": 2})
    with pytest.raises(InputError):
        codec.split_export([header, header])


def test_memory_from_dict_dispatches_on_type() -> None:
    t = turn("u", 1, "hi")
    assert codec.memory_from_dict("u", codec.turn_to_dict(t)) == t
    with pytest.raises(InputError):
        codec.memory_from_dict("u", codec.trigger_to_dict(trigger("u", "g", "x", "i")))
