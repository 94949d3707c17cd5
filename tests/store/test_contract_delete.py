"""Store contract: cascade deletion, user erasure and tenant isolation on every read path."""

from __future__ import annotations

import secrets

import pytest

from tmem.errors import NotFoundError
from tmem.persona import PersonaDelta
from tmem.store.base import Store, VectorRow

from .records import T0, batch, item, scene, trigger, turn, unit


def _canary() -> str:
    return secrets.token_hex(16)


def _seed_graph(store: Store, user: str, word: str) -> None:
    """Turns t0..t2; scene sc1 over t0+t1, sc2 over t0 only; items over them; triggers."""
    turns = (turn(user, 0, f"{word} zero"), turn(user, 1, f"{word} one"), turn(user, 2, "other"))
    t0, t1, t2 = (t.id for t in turns)
    store.write(
        batch(
            user,
            turns=turns,
            scenes=(
                scene(user, f"{user}-sc1", (t0, t1), f"{word} scene one"),
                scene(user, f"{user}-sc2", (t0,), f"{word} scene two"),
            ),
            items=(
                item(user, f"{user}-i1", f"{word} fact", scenes=(f"{user}-sc2",), turns=(t0,)),
                item(user, f"{user}-i2", "kept fact", scenes=(f"{user}-sc1",), turns=(t0, t2)),
            ),
            triggers=(
                trigger(user, f"{user}-g1", f"{word} concept", f"{user}-i1"),
                trigger(user, f"{user}-g2", "shared", f"{user}-i1", f"{user}-i2"),
            ),
            scene_of_turn=((t0, f"{user}-sc2"), (t1, f"{user}-sc1")),
            persona_deltas=(PersonaDelta("Ana", traits=(("style", (f"{word} trait",)),)),),
            vectors=(
                VectorRow(t0, "turn", unit(1)),
                VectorRow(f"{user}-sc2", "scene", unit(1)),
                VectorRow(f"{user}-i1", "item", unit(1)),
                VectorRow(f"{user}-g1", "entity", unit(1)),
                VectorRow(f"{user}-g2", "entity", unit(1, 1)),
            ),
        )
    )


def test_deleting_a_turn_erases_what_rests_on_it_and_the_rest_waits(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    plan = store.plan_forget("u1", "u1-t0")
    assert plan.memories == ("u1-t0", "u1-sc1", "u1-sc2", "u1-i1", "u1-i2")
    assert plan.triggers == ("u1-g1", "u1-g2") and plan.waiting == ("u1-t1", "u1-t2")
    fresh = tuple(VectorRow(t, "context", unit(0, 0, 1)) for t in ("u1-t1", "u1-t2", "u1-t9"))
    removed = store.delete_memory("u1", "u1-t0", T0, fresh)
    # Five memories and two triggers, with five vectors (t0, sc2, i1, g1, g2). Scene sc1 and
    # item i2 rest on t0 too: a derived text is erased whole, never trimmed.
    assert removed == 5 + 2 + 5
    assert set(store.get_many("u1", ["u1-t0", "u1-sc1", "u1-sc2", "u1-i1", "u1-i2"])) == set()
    assert store.triggers_for("u1", ["u1-g1", "u1-g2"]) == []
    assert {t.id for t in store.pending_turns("u1")} == {"u1-t1", "u1-t2"}
    found = {s.id for s in store.search_vectors("u1", "context", unit(0, 0, 1), 10)}
    assert found == {"u1-t1", "u1-t2"}  # the unknown u1-t9 row was ignored
    exported = {r.get("id"): r for r in store.export("u1")}
    assert exported["u1-t1"]["scene_id"] is None
    (tombstone,) = store.history("u1", "u1-sc1")
    assert (tombstone.event, tombstone.text, tombstone.detail) == (
        "deleted", "", "scene, with u1-t0",
    )  # fmt: skip
    (asked,) = store.history("u1", "u1-t0")
    assert (asked.event, asked.text, asked.detail) == ("deleted", "", "turn")


def test_deleted_memory_leaves_no_search_trace(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    store.delete_memory("u1", "u1-t0", T0)
    for kind in ("turn", "scene", "item"):
        hits = store.search_text("u1", kind, "zebra", 10)  # type: ignore[arg-type]
        assert {h.id for h in hits} <= {"u1-t1"}
    for space in ("turn", "scene", "item", "entity"):
        assert store.search_vectors("u1", space, unit(1), 10) == []


def test_deletion_leaves_only_a_tombstone_in_history(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    store.delete_memory("u1", "u1-i1", T0)
    (entry,) = store.history("u1", "u1-i1")
    assert (entry.event, entry.text, entry.version) == ("deleted", "", 2)


def test_deleting_an_item_keeps_its_turns_derived(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    plan = store.plan_forget("u1", "u1-i1")
    assert plan.memories == ("u1-i1",) and plan.waiting == ()
    # g2 points at i2 as well, but its text was written from i1 too.
    assert plan.triggers == ("u1-g1", "u1-g2")
    store.delete_memory("u1", "u1-i1", T0)
    assert store.pending_turns("u1") == []
    assert set(store.get_many("u1", ["u1-sc1", "u1-sc2", "u1-i2"])) == {
        "u1-sc1",
        "u1-sc2",
        "u1-i2",
    }


def test_deleting_a_scene_sends_its_turns_back_to_waiting(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    store.delete_memory("u1", "u1-sc2", T0)
    # i1 came from sc2; t0 waits, so sc1 and i2, which rest on it, go too.
    assert store.get_many("u1", ["u1-i1", "u1-sc1", "u1-i2"]) == {}
    assert store.get("u1", "u1-t0") is not None
    exported = {r.get("id"): r for r in store.export("u1")}
    assert exported["u1-t0"]["scene_id"] is None and exported["u1-t1"]["scene_id"] is None
    assert {t.id for t in store.pending_turns("u1")} == {"u1-t0", "u1-t1", "u1-t2"}


def test_delete_unknown_or_foreign_memory_is_not_found(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    with pytest.raises(NotFoundError):
        store.delete_memory("u2", "u1-t0", T0)
    with pytest.raises(NotFoundError):
        store.delete_memory("u1", "nothing", T0)
    assert store.get("u1", "u1-t0") is not None


def test_delete_user_erases_only_that_user(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    _seed_graph(store, "u2", "zebra")
    before = list(store.export("u2"))[1:]
    assert store.delete_user("u1") > 0
    assert store.list("u1") == [] and store.users() == ["u2"]
    assert list(store.export("u1"))[1:] == []
    assert store.search_text("u1", "turn", "zebra", 10) == []
    assert store.search_vectors("u1", "entity", unit(1), 10) == []
    assert list(store.export("u2"))[1:] == before
    assert store.next_seq("u1") == 0


def test_tenant_isolation_on_every_read_path(store: Store) -> None:
    a, b = _canary(), _canary()
    _seed_graph(store, "A", a)
    _seed_graph(store, "B", b)
    store.set_instructions("A", f"keep {a}", T0)
    store.set_instructions("B", f"keep {b}", T0)
    a_ids = {"A-t0", "A-t1", "A-t2", "A-sc1", "A-sc2", "A-i1", "A-i2"}
    seen_by_b: list[object] = [
        store.get_many("B", sorted(a_ids)),
        store.get("B", "A-t0"),
        store.list("B"),
        store.turns("B", sorted(a_ids)),
        store.recent_turns("B", 100),
        store.pending_turns("B"),
        store.last_scene("B"),
        store.triggers_for("B", ["A-g1", "A-g2"]),
        store.triggers_of("B", "A-i1"),
        store.persona_entries("B"),
        store.instructions("B"),
        store.history("B", "A-sc1"),
        list(store.export("B")),
    ]
    for kind in ("turn", "scene", "item"):
        seen_by_b.append(store.search_text("B", kind, f"{a} {b}", 50))  # type: ignore[arg-type]
    for space in ("turn", "scene", "item", "entity"):
        seen_by_b.append(store.search_vectors("B", space, unit(1), 50))
    flat = repr(seen_by_b)
    assert a not in flat and "'A-" not in flat
    assert b in flat  # B does see its own rows through the same calls


ADVERSARIAL_PAIRS = [
    ("alice", "Alice"),
    ("alice", "alice "),
    ("a%", "ab"),
    ("a_", "ab"),
    ("x'--", "x"),
    ('q"', "q"),
    ("caf\u00e9", "cafe\u0301"),
    ("а", "a"),  # Cyrillic a vs Latin a
    ("*", "star"),
    ("u" * 2000, "u" * 1999),
]


@pytest.mark.parametrize(("owner", "other"), ADVERSARIAL_PAIRS, ids=range(len(ADVERSARIAL_PAIRS)))
def test_look_alike_tenants_stay_apart(store: Store, owner: str, other: str) -> None:
    canary = _canary()
    t0 = turn(owner, 0, f"token {canary}", tid="shared-id")
    store.write(
        batch(
            owner,
            turns=(t0,),
            items=(item(owner, "shared-item", canary, turns=(t0.id,)),),
            vectors=(VectorRow("shared-item", "item", unit(1)),),
        )
    )
    store.write(batch(other, turns=(turn(other, 0, "bystander", tid="shared-id"),)))
    reads = [
        store.get(other, "shared-id"),
        store.get(other, "shared-item"),
        store.list(other),
        store.search_text(other, "item", canary, 10),
        store.search_text(other, "turn", f"token {canary}", 10),
        store.search_vectors(other, "item", unit(1), 10),
        store.history(other, "shared-item"),
        list(store.export(other)),
    ]
    assert canary not in repr(reads)
    assert sorted(store.users()) == sorted([owner, other])
    store.delete_memory(other, "shared-id", T0)
    assert store.get(owner, "shared-id") == t0


def test_a_scene_left_holding_no_turn_is_erased_with_the_write(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    t0, t1 = "u1-t0", "u1-t1"
    # A later derivation moves both turns into a new scene: sc1 and sc2 hold no turn any more.
    store.write(
        batch(
            "u1",
            scenes=(scene("u1", "u1-sc3", (t0, t1), "zebra scene three"),),
            items=(item("u1", "u1-i3", "zebra fact again", scenes=("u1-sc3",), turns=(t0,)),),
            scene_of_turn=((t0, "u1-sc3"), (t1, "u1-sc3")),
            vectors=(VectorRow("u1-sc3", "scene", unit(0, 1)),),
        )
    )
    assert store.get_many("u1", ["u1-sc1", "u1-sc2", "u1-i1", "u1-i2"]) == {}
    assert [s.id for s in store.list("u1", "scene")] == ["u1-sc3"]
    assert {h.id for h in store.search_text("u1", "scene", "zebra", 10)} == {"u1-sc3"}
    assert [h.id for h in store.search_vectors("u1", "scene", unit(1), 10)] == ["u1-sc3"]
    (entry,) = store.history("u1", "u1-sc2")
    assert entry.event == "deleted" and "derived again" in entry.detail
    assert store.get("u1", t0) is not None and store.get("u1", "u1-t2") is not None


def test_only_the_scene_left_empty_goes(store: Store) -> None:
    _seed_graph(store, "u1", "zebra")
    store.write(
        batch(
            "u1",
            scenes=(scene("u1", "u1-sc3", ("u1-t0",), "zebra scene three"),),
            scene_of_turn=(("u1-t0", "u1-sc3"),),
        )
    )
    # t1 still links to sc1; sc2 held only t0, and i1 was extracted only from sc2.
    assert set(store.get_many("u1", ["u1-sc1", "u1-sc2", "u1-sc3", "u1-i1", "u1-i2"])) == {
        "u1-sc1",
        "u1-sc3",
        "u1-i2",
    }


def test_erasing_an_emptied_scene_keeps_its_turns_context_vectors(store: Store) -> None:
    """Turns keep their context vectors for life: search ranks every turn by them."""
    _seed_graph(store, "u1", "zebra")
    context = tuple(VectorRow(t, "context", unit(0, 0, 1)) for t in ("u1-t0", "u1-t1", "u1-t2"))
    store.write(batch("u1", vectors=context))
    # sc2 (t0) and sc1 (t1) empty: both turns move into a new scene.
    store.write(
        batch(
            "u1",
            scenes=(scene("u1", "u1-sc3", ("u1-t0", "u1-t1"), "zebra scene three"),),
            scene_of_turn=(("u1-t0", "u1-sc3"), ("u1-t1", "u1-sc3")),
            vectors=(VectorRow("u1-t1", "context", unit(0, 0, 1)),),
        )
    )
    found = {s.id for s in store.search_vectors("u1", "context", unit(0, 0, 1), 10)}
    assert found == {"u1-t0", "u1-t1", "u1-t2"}


def test_turns_marked_derived_keep_their_context_vectors(store: Store) -> None:
    """``done_turns`` ends the pending mark only; the turn's vectors stay."""
    _seed_graph(store, "u1", "zebra")
    context = tuple(VectorRow(t, "context", unit(0, 0, 1)) for t in ("u1-t0", "u1-t1", "u1-t2"))
    store.write(batch("u1", vectors=context, pending_turns=("u1-t0", "u1-t1", "u1-t2")))
    assert len(store.search_vectors("u1", "context", unit(0, 0, 1), 10)) == 3  # warms a cache
    store.write(
        batch(
            "u1",
            vectors=(VectorRow("u1-t1", "context", unit(0, 0, 1)),),
            done_turns=("u1-t0", "u1-t1"),
        )
    )
    found = {s.id for s in store.search_vectors("u1", "context", unit(0, 0, 1), 10)}
    assert found == {"u1-t0", "u1-t1", "u1-t2"}
    assert {t.id for t in store.pending_turns("u1")} == {"u1-t2"}
    assert [s.id for s in store.search_vectors("u1", "turn", unit(1), 10)] == ["u1-t0"]
