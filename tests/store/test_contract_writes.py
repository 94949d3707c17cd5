"""Store contract: writes, upserts, supersession, history and every read path."""

from __future__ import annotations

import pytest

from tmem.errors import EmbedderMismatchError, InputError, NotFoundError
from tmem.models import Item, Scene, Turn
from tmem.store.base import Store, Supersession, VectorRow

from .records import at, batch, item, scene, trigger, turn, unit


def _seed(store: Store, user: str = "u1") -> None:
    turns = tuple(turn(user, i, f"message number {i}") for i in range(4))
    store.write(
        batch(
            user,
            turns=turns,
            scenes=(scene(user, "sc1", (turns[0].id, turns[1].id), "They met.", minute=1),),
            items=(item(user, "it1", "Alice likes tea", scenes=("sc1",), turns=(turns[0].id,)),),
            triggers=(trigger(user, "tr1", "tea", "it1"),),
            scene_of_turn=((turns[0].id, "sc1"), (turns[1].id, "sc1")),
        )
    )


def test_write_then_get_returns_equal_records(store: Store) -> None:
    _seed(store)
    assert store.get("u1", "u1-t2") == turn("u1", 2, "message number 2")
    assert store.get("u1", "sc1") == scene("u1", "sc1", ("u1-t0", "u1-t1"), "They met.", minute=1)
    found = store.get("u1", "it1")
    assert isinstance(found, Item) and found.scene_ids == ("sc1",)
    assert store.get("u1", "missing") is None


def test_get_many_skips_unknown_ids(store: Store) -> None:
    _seed(store)
    found = store.get_many("u1", ["it1", "nope", "u1-t0", "sc1"])
    assert sorted(found) == ["it1", "sc1", "u1-t0"]


def test_list_is_in_time_order_and_filters_kind(store: Store) -> None:
    _seed(store)
    turns = store.list("u1", "turn")
    assert [t.id for t in turns] == [f"u1-t{i}" for i in range(4)]
    everything = store.list("u1")
    stamps = [r.timestamp for r in everything]
    assert stamps == sorted(stamps)
    assert {r.kind for r in everything} == {"turn", "scene", "item"}
    assert [r.id for r in store.list("u1", "scene")] == ["sc1"]


def test_turn_reads(store: Store) -> None:
    _seed(store)
    assert [t.seq for t in store.recent_turns("u1", 2)] == [2, 3]
    assert store.recent_turns("u1", 0) == []
    assert [t.id for t in store.turns("u1", ["u1-t3", "x", "u1-t1"])] == ["u1-t3", "u1-t1"]
    assert store.next_seq("u1") == 4
    assert store.next_seq("nobody") == 0


def test_last_scene_is_the_latest(store: Store) -> None:
    assert store.last_scene("u1") is None
    _seed(store)
    store.write(batch("u1", scenes=(scene("u1", "sc2", ("u1-t3",), "Later.", minute=9),)))
    last = store.last_scene("u1")
    assert last is not None and last.id == "sc2"


def test_pending_marks_set_and_clear(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", pending_turns=("u1-t2", "u1-t3")))
    assert [t.id for t in store.pending_turns("u1")] == ["u1-t2", "u1-t3"]
    store.write(batch("u1", done_turns=("u1-t2",)))
    assert [t.id for t in store.pending_turns("u1")] == ["u1-t3"]


def test_rewritten_turn_keeps_scene_link_and_pending_mark(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", pending_turns=("u1-t0",)))
    store.write(batch("u1", turns=(turn("u1", 0, "edited"),)))
    exported = [r for r in store.export("u1") if r.get("id") == "u1-t0"]
    assert exported[0]["scene_id"] == "sc1" and exported[0]["pending"] is True
    assert exported[0]["content"] == "edited"


def test_triggers_for_and_of(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", triggers=(trigger("u1", "tr2", "drinks", "it1", "sc1"),)))
    assert [t.id for t in store.triggers_for("u1", ["tr2", "zz", "tr1"])] == ["tr2", "tr1"]
    assert sorted(t.id for t in store.triggers_of("u1", "it1")) == ["tr1", "tr2"]
    assert [t.id for t in store.triggers_of("u1", "sc1")] == ["tr2"]
    assert store.triggers_for("u1", ["tr2"])[0].targets == (("it1", 0.9), ("sc1", 0.9))


def test_trigger_upsert_replaces_targets(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", triggers=(trigger("u1", "tr1", "tea time", "sc1"),)))
    (updated,) = store.triggers_for("u1", ["tr1"])
    assert updated.text == "tea time" and updated.targets == (("sc1", 0.9),)
    assert store.triggers_of("u1", "it1") == []


def test_delete_triggers_of_drops_edges_and_empty_triggers(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", triggers=(trigger("u1", "tr2", "both", "it1", "sc1"),)))
    store.write(batch("u1", delete_triggers_of=("it1",)))
    assert store.triggers_for("u1", ["tr1"]) == []
    (kept,) = store.triggers_for("u1", ["tr2"])
    assert kept.targets == (("sc1", 0.9),)


def test_history_records_creation_and_text_changes_in_order(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", scenes=(scene("u1", "sc1", ("u1-t0",), "They met."),)))
    assert [h.event for h in store.history("u1", "sc1")] == ["created"]
    store.write(batch("u1", when=at(5), scenes=(scene("u1", "sc1", ("u1-t0",), "They argued."),)))
    entries = store.history("u1", "sc1")
    assert [(h.version, h.event, h.text) for h in entries] == [
        (1, "created", "They met."),
        (2, "updated", "They argued."),
    ]
    assert entries[1].at == at(5)


def test_supersession_marks_old_item_and_hides_it(store: Store) -> None:
    _seed(store)
    newer = item("u1", "it2", "Alice now prefers coffee", turns=("u1-t3",))
    store.write(
        batch(
            "u1",
            when=at(7),
            items=(newer,),
            vectors=(VectorRow("it1", "item", unit(1)), VectorRow("it2", "item", unit(1, 1))),
            supersessions=(Supersession("it1", "it2", "changed taste"),),
        )
    )
    old = store.get("u1", "it1")
    assert isinstance(old, Item) and old.status == "superseded" and old.superseded_by == "it2"
    assert [h.event for h in store.history("u1", "it1")] == ["created", "superseded"]
    assert "it2" in store.history("u1", "it1")[-1].detail
    assert [r.id for r in store.list("u1", "item")] == ["it2"]
    assert {r.id for r in store.list("u1", "item", include_superseded=True)} == {"it1", "it2"}
    assert [s.id for s in store.search_vectors("u1", "item", unit(1), 5)] == ["it2"]
    assert [s.id for s in store.search_text("u1", "item", "Alice", 5)] == ["it2"]


def test_supersession_of_unknown_item_writes_nothing(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.write(
            batch("u1", turns=(turn("u1", 0, "x"),), supersessions=(Supersession("no", "it"),))
        )
    assert store.get("u1", "u1-t0") is None


def test_update_memory_replaces_text_and_vectors(store: Store) -> None:
    _seed(store)
    store.write(batch("u1", vectors=(VectorRow("it1", "item", unit(1)),)))
    updated = store.update_memory(
        "u1", "it1", "Alice likes green tea", [VectorRow("it1", "item", unit(0, 1))], at(3)
    )
    assert isinstance(updated, Item) and updated.content == "Alice likes green tea"
    assert store.get("u1", "it1") == updated
    assert store.search_vectors("u1", "item", unit(0, 1), 1)[0].score == pytest.approx(1.0)
    assert [h.event for h in store.history("u1", "it1")] == ["created", "updated"]
    assert [s.id for s in store.search_text("u1", "item", "green", 5)] == ["it1"]


def test_update_memory_of_scene_and_turn(store: Store) -> None:
    _seed(store)
    scene_after = store.update_memory("u1", "sc1", "They parted.", [], at(2))
    assert isinstance(scene_after, Scene) and scene_after.narrative == "They parted."
    turn_after = store.update_memory("u1", "u1-t1", "corrected", [], at(2))
    assert isinstance(turn_after, Turn) and store.get("u1", "u1-t1") == turn_after
    with pytest.raises(NotFoundError):
        store.update_memory("u1", "missing", "x", [], at(2))


def test_users_lists_writers(store: Store) -> None:
    assert store.users() == []
    _seed(store, "u2")
    _seed(store, "u1")
    assert store.users() == ["u1", "u2"]


def test_batch_for_another_user_is_refused(store: Store) -> None:
    with pytest.raises(InputError):
        store.write(batch("u1", turns=(turn("u2", 0, "sneaky"),)))
    assert store.users() == []


def test_failed_batch_writes_nothing(store: Store) -> None:
    bad = VectorRow("u1-t0", "no-such-space", unit(1))
    with pytest.raises(InputError):
        store.write(batch("u1", turns=(turn("u1", 0, "hello"),), vectors=(bad,)))
    assert store.list("u1") == [] and store.next_seq("u1") == 0


def test_embedder_binding(store: Store) -> None:
    store.bind_embedder("minilm", 8)
    store.bind_embedder("minilm", 8)
    with pytest.raises(EmbedderMismatchError):
        store.bind_embedder("minilm", 16)
    with pytest.raises(EmbedderMismatchError):
        store.bind_embedder("other", 8)
    with pytest.raises(EmbedderMismatchError):
        store.write(batch("u1", vectors=(VectorRow("x", "turn", unit(1, dim=4)),)))
