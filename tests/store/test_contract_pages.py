"""Store contract: keyset pages of ``list``, ``history`` and ``export`` (tmem.store.keyset).

A walk lists every row once, in the order of keys no write changes, and a row stored before
the walk began is neither skipped nor repeated whatever is written meanwhile; the property
test at the end interleaves page reads with random adds, updates, re-derivations,
supersessions and deletions on every backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmem.models import Item, Kind, Record, Scene, Turn
from tmem.paging import Chunk, Position
from tmem.persona import PersonaDelta, PersonaEdit
from tmem.store.base import Store, Supersession, VectorRow, WriteBatch

from .records import DIM, T0, at, batch, item, scene, trigger, turn, unit

T = TypeVar("T")
_users = itertools.count()


def walk(read: Callable[[Position | None], Chunk[T]]) -> Iterator[tuple[T, ...]]:
    """Every page of a walk, following ``after`` until it is None."""
    after: Position | None = None
    for _ in range(10_000):
        chunk = read(after)
        yield chunk.items
        if chunk.after is None:
            return
        after = chunk.after
    raise AssertionError("the walk never ended")


def listed(store: Store, user: str, kind: Kind | None, limit: int) -> list[Record]:
    pages = walk(lambda after: store.list_page(user, kind, after, limit))
    return [record for page in pages for record in page]


def exported(store: Store, user: str, limit: int) -> list[dict[str, Any]]:
    pages = walk(lambda after: store.export_page(user, after, limit))
    return [row for page in pages for row in page]


def row_key(row: dict[str, Any]) -> Hashable:
    """What names one exported row: its type and key."""
    kind = row["type"]
    if kind == "vector":
        return (kind, row["space"], row["owner_id"])
    if kind == "instructions":
        return (kind,)
    if kind == "history":
        return (kind, row["memory_id"], row["version"])
    if kind == "header":
        return (kind,)
    return (kind, row["id"])


def story(user: str) -> list[WriteBatch]:
    """Turns whose times run against their order, two scenes, three items (one superseded)."""
    turns = tuple(
        replace(turn(user, seq, f"turn {seq}"), timestamp=at(100 - seq)) for seq in range(5)
    )
    ids = tuple(t.id for t in turns)
    first = batch(
        user,
        turns=turns,
        scenes=(scene(user, "sc-late", ids[:2], "later scene", minute=50),),
        items=(item(user, "it-b", "fact b", turns=ids[:1], minute=9),),
        triggers=(trigger(user, "tr1", "cue", "it-b"),),
        vectors=tuple(VectorRow(t.id, "turn", unit(1.0, float(i))) for i, t in enumerate(turns)),
    )
    second = batch(
        user,
        scenes=(scene(user, "sc-early", ids[2:], "earlier scene", minute=1),),
        items=(
            item(user, "it-a", "fact a", turns=ids[1:2], minute=2),
            item(user, "it-c", "fact c", turns=ids[2:3], minute=3),
        ),
        supersessions=(Supersession("it-b", "it-c"),),
    )
    return [first, second]


def write_story(store: Store, user: str) -> None:
    store.bind_embedder("minilm", DIM)
    for each in story(user):
        store.write(each)


@pytest.mark.parametrize("limit", [1, 2, 3, 1000])
def test_list_pages_walk_turns_by_seq_then_scenes_and_items_in_creation_order(
    store: Store, limit: int
) -> None:
    write_story(store, "u1")
    ids = [record.id for record in listed(store, "u1", None, limit)]
    # it-b is superseded: list leaves it out, so do its pages.
    assert ids == [
        "u1-t0",
        "u1-t1",
        "u1-t2",
        "u1-t3",
        "u1-t4",
        "sc-late",
        "sc-early",
        "it-a",
        "it-c",
    ]
    assert sorted(ids) == sorted(r.id for r in store.list("u1"))
    for kind in ("turn", "scene", "item"):
        one_kind = [r.id for r in listed(store, "u1", kind, limit)]
        assert one_kind == [i for i in ids if i in {r.id for r in store.list("u1", kind)}]


def test_pages_hold_what_list_returns(store: Store) -> None:
    write_story(store, "u1")
    by_id = {record.id: record for record in store.list("u1")}
    assert {record.id: record for record in listed(store, "u1", None, 2)} == by_id


def test_a_page_that_ends_with_the_rows_says_it_is_the_last(store: Store) -> None:
    write_story(store, "u1")
    whole = store.list_page("u1", "turn", None, 5)
    assert [t.id for t in whole.items] == [f"u1-t{i}" for i in range(5)] and whole.after is None
    first = store.list_page("u1", None, None, 5)
    assert first.after == Position("turn", (4, "u1-t4"))
    assert store.list_page("u1", None, None, 9).after is None
    assert store.list_page("u1", None, None, 8).after is not None
    assert store.list_page("nobody", None, None, 5) == Chunk((), None)


def test_pages_never_show_another_users_rows(store: Store) -> None:
    write_story(store, "u1")
    store.write(batch("u2", turns=(turn("u2", 0, "other"),)))
    assert [r.id for r in listed(store, "u2", None, 1)] == ["u2-t0"]
    after_u1 = store.list_page("u1", None, None, 1).after
    assert after_u1 is not None
    # A position is only a key: read for u2, it selects u2's rows after that key, never u1's.
    assert all(r.user_id == "u2" for r in store.list_page("u2", None, after_u1, 10).items)


def test_a_scene_whose_time_moves_keeps_its_place(store: Store) -> None:
    """Extending a scene moves its time; a time-ordered walk would list it twice."""
    store.write(batch("u1", turns=(turn("u1", 0, "a"), turn("u1", 1, "b"))))
    store.write(batch("u1", scenes=(scene("u1", "first", ("u1-t0",), "one", minute=1),)))
    store.write(batch("u1", scenes=(scene("u1", "second", ("u1-t1",), "two", minute=2),)))
    page = store.list_page("u1", "scene", None, 1)
    assert [s.id for s in page.items] == ["first"]
    moved = scene("u1", "first", ("u1-t0", "u1-t1"), "one, extended", minute=30)
    store.write(batch("u1", scenes=(moved,)))
    rest = store.list_page("u1", "scene", page.after, 10)
    assert [s.id for s in rest.items] == ["second"] and rest.after is None
    assert [s.id for s in store.list("u1", "scene")] == ["second", "first"]  # list: by time


def test_memories_added_during_a_walk_come_after_it(store: Store) -> None:
    write_story(store, "u1")
    page = store.list_page("u1", None, None, 2)
    old_time = replace(turn("u1", 5, "late but dated early"), timestamp=T0 - timedelta(days=9))
    store.write(
        batch("u1", turns=(old_time,), scenes=(scene("u1", "sc-new", (old_time.id,), "x"),))
    )
    rest = [r.id for r in listed_after(store, "u1", page.after, 2)]
    assert rest[:4] == ["u1-t2", "u1-t3", "u1-t4", "u1-t5"]
    assert rest[4:7] == ["sc-late", "sc-early", "sc-new"]


def listed_after(store: Store, user: str, after: Position | None, limit: int) -> list[Record]:
    out: list[Record] = []
    while True:
        chunk = store.list_page(user, None, after, limit)
        out.extend(chunk.items)
        if chunk.after is None:
            return out
        after = chunk.after


@pytest.mark.parametrize("limit", [1, 3, 7, 1000])
def test_export_pages_join_into_the_export(
    store: Store, make_store: Callable[[], Store], limit: int
) -> None:
    write_story(store, "u1")
    store.update_memory("u1", "u1-t3", "turn 3, edited", (), at(200))
    store.write(batch("u2", turns=(turn("u2", 0, "other"),)))
    deltas = (
        PersonaDelta("Ana", (("age", "41"),), (("drink", ("tea", "mate")),), (), (), ("u1-t0",)),
        PersonaDelta("Ben", (("occupation", "nurse"),), (), (), (("Jo", "sister"),), ("u1-t1",)),
    )
    store.write(batch("u1", persona_deltas=deltas))
    hand = PersonaEdit(speaker="Ana", section="traits", key="mood", value="calm", pinned=True)
    store.edit_persona("u1", hand, at(210))
    store.set_instructions("u1", "keep travel plans", at(220))
    store.set_instructions("u2", "not u1's", at(220))
    whole = list(store.export("u1"))
    assert {"persona_entry", "instructions"} <= {row["type"] for row in whole}
    paged = exported(store, "u1", limit)
    for kind in ("persona_entry", "instructions", "history"):  # in the export's own order
        assert [r for r in paged if r["type"] == kind] == [r for r in whole if r["type"] == kind]
    assert paged[0]["type"] == "header" and paged[0] == {
        **whole[0],
        "exported_at": paged[0]["exported_at"],
    }
    assert [row for row in paged if row["type"] == "header"] == paged[:1]
    assert sorted(map(repr, paged[1:])) == sorted(map(repr, whole[1:]))
    # By type in export order; turns in the export's own order (scenes and items by creation).
    types = [row["type"] for row in paged[1:]]
    assert types == [row["type"] for row in whole[1:]]
    assert [r["id"] for r in paged if r["type"] == "turn"] == [
        r["id"] for r in whole if r["type"] == "turn"
    ]
    fresh = make_store()
    fresh.import_records("copy", paged)
    assert sorted(map(repr, list(fresh.export("copy"))[1:])) == sorted(map(repr, whole[1:]))


def test_export_pages_of_a_store_without_vectors(store: Store) -> None:
    store.write(batch("u1", turns=(turn("u1", 0, "a"), turn("u1", 1, "b"))))
    rows = exported(store, "u1", 1)
    assert [row_key(r) for r in rows] == [("header",), ("turn", "u1-t0"), ("turn", "u1-t1")]
    nobody = exported(store, "nobody", 4)
    assert [{**r, "exported_at": ""} for r in nobody] == [{**rows[0], "exported_at": ""}]


def test_history_pages_by_version_and_later_versions_follow(store: Store) -> None:
    store.write(batch("u1", turns=(turn("u1", 0, "v0"),)))
    assert store.history_page("u1", "u1-t0", None, 5) == Chunk((), None)
    for n in range(1, 4):
        store.update_memory("u1", "u1-t0", f"v{n}", (), at(n))
    first = store.history_page("u1", "u1-t0", None, 2)
    assert [(e.version, e.event, e.text) for e in first.items] == [
        (1, "created", "v0"),
        (2, "updated", "v1"),
    ]
    store.update_memory("u1", "u1-t0", "v4", (), at(9))
    rest = store.history_page("u1", "u1-t0", first.after, 10)
    assert [e.version for e in rest.items] == [3, 4, 5] and rest.after is None
    assert store.history_page("u2", "u1-t0", None, 5) == Chunk((), None)
    assert list(first.items) + list(rest.items) == store.history("u1", "u1-t0")


def test_a_deleted_memory_is_not_listed_and_the_walk_goes_on(store: Store) -> None:
    write_story(store, "u1")
    page = store.list_page("u1", None, None, 2)
    store.delete_memory("u1", "u1-t3", at(300))
    rest = [r.id for r in listed_after(store, "u1", page.after, 2)]
    assert "u1-t3" not in rest and rest[:2] == ["u1-t2", "u1-t4"]
    assert "sc-early" not in rest  # it rested on the deleted turn (the cascade took it)


# --- the property: walks under concurrent writes ------------------------------------------------
Walker = Callable[[Store, str, Position | None, int], Chunk[Any]]


def _list_walker(kind: Kind | None) -> tuple[Walker, Callable[[Store, str], set[Hashable]]]:
    def read(store: Store, user: str, after: Position | None, limit: int) -> Chunk[Any]:
        return store.list_page(user, kind, after, limit)

    def present(store: Store, user: str) -> set[Hashable]:
        return {(r.kind, r.id) for r in store.list(user, kind)}

    return read, present


def _export_walker() -> tuple[Walker, Callable[[Store, str], set[Hashable]]]:
    def read(store: Store, user: str, after: Position | None, limit: int) -> Chunk[Any]:
        return store.export_page(user, after, limit)

    def present(store: Store, user: str) -> set[Hashable]:
        return {row_key(row) for row in store.export(user)}

    return read, present


def _key(row: Any) -> Hashable:
    return row_key(row) if isinstance(row, dict) else (row.kind, row.id)


WALKS = {
    "list": _list_walker(None),
    "turns": _list_walker("turn"),
    "scenes": _list_walker("scene"),
    "items": _list_walker("item"),
    "export": _export_walker(),
}
OPS = ("add-turn", "add-scene", "add-item", "redate-scene", "update", "supersede", "delete")


def _apply(store: Store, user: str, op: str, draw: st.DataObject, fresh: Iterator[int]) -> None:
    """One random write of ``op``'s kind (nothing when it has nothing to act on)."""
    records = store.list(user, include_superseded=True)
    turns = [r for r in records if isinstance(r, Turn)]
    minute = draw.draw(st.integers(0, 500))
    n = next(fresh)
    if op == "add-turn":
        new = replace(
            turn(user, store.next_seq(user), f"new {n}", tid=f"nt{n}"), timestamp=at(minute)
        )
        store.write(batch(user, turns=(new,), vectors=(VectorRow(new.id, "turn", unit(1.0)),)))
    elif op in ("add-scene", "add-item") and turns:
        source = (draw.draw(st.sampled_from(turns)).id,)
        if op == "add-scene":
            store.write(batch(user, scenes=(scene(user, f"ns{n}", source, "new", minute=minute),)))
        else:
            store.write(
                batch(user, items=(item(user, f"ni{n}", "new", turns=source, minute=minute),))
            )
    elif op == "redate-scene":
        scenes = [r for r in records if isinstance(r, Scene)]
        if scenes:
            chosen = draw.draw(st.sampled_from(scenes))
            store.write(batch(user, scenes=(replace(chosen, timestamp=at(minute)),)))
    elif op == "update" and records:
        chosen_record = draw.draw(st.sampled_from(records))
        space = chosen_record.kind
        rows = (VectorRow(chosen_record.id, space, unit(0.5, 1.0)),)
        store.update_memory(user, chosen_record.id, f"edited {n}", rows, at(minute))
    elif op == "supersede":
        active = [r for r in records if isinstance(r, Item) and r.status == "active"]
        if active and turns:
            old = draw.draw(st.sampled_from(active))
            new_item = item(user, f"ni{n}", "newer", turns=old.source_turns, minute=minute)
            store.write(
                batch(user, items=(new_item,), supersessions=(Supersession(old.id, new_item.id),))
            )
    elif op == "delete" and records:
        store.delete_memory(user, draw.draw(st.sampled_from(records)).id, at(minute))


@st.composite
def initial(draw: st.DrawFn, user: str) -> WriteBatch:
    """Turns with times against their order, scenes and items over them, triggers, vectors."""
    count = draw(st.integers(1, 7))
    minutes = draw(st.lists(st.integers(0, 500), min_size=count, max_size=count))
    turns = tuple(
        replace(turn(user, seq, f"t{seq}"), timestamp=at(m)) for seq, m in enumerate(minutes)
    )
    ids = [t.id for t in turns]
    sources = st.lists(st.sampled_from(ids), min_size=1, max_size=3, unique=True).map(tuple)
    scenes = tuple(
        scene(user, f"sc{i}", draw(sources), f"scene {i}", minute=draw(st.integers(0, 500)))
        for i in range(draw(st.integers(0, 4)))
    )
    items = tuple(
        item(user, f"it{i}", f"item {i}", turns=draw(sources), minute=draw(st.integers(0, 500)))
        for i in range(draw(st.integers(0, 3)))
    )
    memories = [m.id for m in (*scenes, *items)] or ids
    triggers = tuple(
        trigger(user, f"tr{i}", f"cue {i}", draw(st.sampled_from(memories)))
        for i in range(draw(st.integers(0, 2)))
    )
    vectors = tuple(VectorRow(t.id, "turn", unit(1.0, float(i))) for i, t in enumerate(turns))
    return batch(user, turns=turns, scenes=scenes, items=items, triggers=triggers, vectors=vectors)


@dataclass
class Walking:
    """One walk under way: where it stands and what it has seen."""

    read: Walker
    present: Callable[[Store, str], set[Hashable]]
    never_gone: set[Hashable]
    seen: list[Hashable] = field(default_factory=list)
    after: Position | None = None
    done: bool = False

    def step(self, store: Store, user: str, limit: int) -> None:
        now = self.present(store, user)
        self.never_gone &= now
        chunk = self.read(store, user, self.after, limit)
        keys = [_key(row) for row in chunk.items]
        assert set(keys) <= now, "a page holds a row that is not stored"
        assert len(chunk.items) <= limit
        self.seen.extend(keys)
        self.done = chunk.after is None
        assert self.done or chunk.items, "a page that is not the last is empty"
        self.after = chunk.after


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_walk_never_skips_or_repeats_a_row_stored_before_it_whatever_is_written(
    store: Store, data: st.DataObject
) -> None:
    """Every kind of walk (list, list of each kind, export) under way at once, with random
    writes between their pages."""
    user = f"walker{next(_users)}"
    store.bind_embedder("minilm", DIM)
    store.write(data.draw(initial(user), label="stored before the walks"))
    limit = data.draw(st.integers(1, 3), label="limit")
    walks = {
        name: Walking(read, present, present(store, user))
        for name, (read, present) in WALKS.items()
    }
    fresh = itertools.count()
    for _ in range(200):
        for each in walks.values():
            if not each.done:
                each.step(store, user, limit)
        if all(each.done for each in walks.values()):
            break
        for op in data.draw(st.lists(st.sampled_from(OPS), max_size=3), label="writes"):
            _apply(store, user, op, data, fresh)
    else:
        raise AssertionError("a walk never ended")
    for name, each in walks.items():
        assert len(each.seen) == len(set(each.seen)), f"{name}: a row was listed twice"
        missing = each.never_gone - set(each.seen)
        assert not missing, (
            f"{name}: rows stored before the walk, never deleted, skipped: {missing}"
        )
