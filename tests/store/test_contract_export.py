"""Store contract: export format and a lossless export -> import -> export round trip."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from tmem.errors import EmbedderMismatchError, InputError
from tmem.store.base import Store, WriteBatch

from .records import batch, for_user, item, turn, user_batches

_users = itertools.count()


def _rows(store: Store, user: str) -> list[dict[str, object]]:
    return list(store.export(user))[1:]


def test_export_starts_with_a_header(store: Store) -> None:
    store.bind_embedder("minilm", 8)
    store.write(batch("u1", turns=(turn("u1", 0, "hi"),)))
    header, *rows = store.export("u1")
    assert header["type"] == "header" and header["format"] == "tmem-export"
    assert header["version"] == 1 and header["embedder"] == {"name": "minilm", "dim": 8}
    assert [r["type"] for r in rows] == ["turn"]


def test_round_trip_into_a_fresh_store(store: Store, make_store: Callable[[], Store]) -> None:
    store.bind_embedder("minilm", 8)
    store.write(
        batch(
            "u1",
            turns=(turn("u1", 0, "hello"),),
            items=(item("u1", "i", "fact", turns=("u1-t0",)),),
        )
    )
    exported = list(store.export("u1"))
    fresh = make_store()
    assert fresh.import_records("someone", exported) == len(exported) - 1
    assert _rows(fresh, "someone") == exported[1:]
    assert fresh.next_seq("someone") == 1
    assert [h.id for h in fresh.search_text("someone", "item", "fact", 5)] == ["i"]


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=user_batches())
def test_round_trip_is_lossless(store: Store, data: WriteBatch) -> None:
    source, target = f"src{next(_users)}", f"dst{next(_users)}"
    written = for_user(data, source)
    store.write(written)
    first = _rows(store, source)
    assert store.import_records(target, list(store.export(source))) == len(first)
    assert _rows(store, target) == first
    some_turn = written.turns[0].id
    assert store.get(target, some_turn) == replace(written.turns[0], user_id=target)


def test_import_refuses_other_formats_and_embedders(store: Store) -> None:
    store.bind_embedder("minilm", 8)
    with pytest.raises(InputError):
        store.import_records("u1", [{"type": "header", "format": "other", "version": 1}])
    with pytest.raises(InputError):
        store.import_records("u1", [{"type": "martian"}])
    header = {"type": "header", "format": "tmem-export", "version": 1}
    with pytest.raises(EmbedderMismatchError):
        store.import_records("u1", [{**header, "embedder": {"name": "bge-m3", "dim": 1024}}])
    with pytest.raises(InputError):
        store.import_records("u1", [header, {"type": "turn", "id": "x"}])
    assert store.users() == []
