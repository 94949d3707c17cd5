"""The pure forgetting policy: what goes, what waits."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tmem.persona import PersonaDelta, forget_entries, merge_entries
from tmem.store.policy import Derivations, plan_forget, without_forgotten

GRAPH = Derivations(
    scenes={"s1": ("t1", "t2", "t3"), "s2": ("t4", "t5")},
    items={"i1": ("t1",), "i2": ("t2", "t3"), "i3": ("t4",), "i4": ()},
    item_scenes={"i1": ("s1",), "i2": ("s1",), "i3": ("s2",), "i4": ("s2",)},
    triggers={"g1": ("i1",), "g2": ("i2", "i3"), "g3": ("s2",), "g4": ("i3",)},
)


def test_a_deleted_turn_takes_every_text_resting_on_it_whole() -> None:
    plan = plan_forget(GRAPH, "t2", "turn")
    # s1's narrative and i2's fact rest on t2; i1 came from s1, so its turn waits too.
    assert plan.memories == ("t2", "s1", "i1", "i2")
    assert plan.waiting == ("t1", "t3")
    assert plan.triggers == ("g1", "g2")  # g2 points at i3 too, but was written from i2


def test_a_deleted_item_leaves_its_turns_derived() -> None:
    plan = plan_forget(GRAPH, "i3", "item")
    assert (plan.memories, plan.waiting, plan.triggers) == (("i3",), (), ("g2", "g4"))


def test_a_deleted_scene_sends_its_turns_back_to_waiting() -> None:
    plan = plan_forget(GRAPH, "s2", "scene")
    assert plan.memories == ("s2", "i3", "i4")  # i4 has no turn of its own but came from s2
    assert plan.waiting == ("t4", "t5")


def test_an_item_spanning_scenes_pulls_the_other_scene_in() -> None:
    graph = Derivations(
        scenes={"s1": ("t1",), "s2": ("t2", "t3")},
        items={"i1": ("t1", "t2")},
        item_scenes={"i1": ("s1", "s2")},
    )
    plan = plan_forget(graph, "t1", "turn")
    assert plan.scenes == ("s1", "s2") and plan.waiting == ("t2", "t3")


TURNS = [f"t{i}" for i in range(6)]


@st.composite
def graphs(draw: st.DrawFn) -> Derivations:
    turns = st.lists(st.sampled_from(TURNS), max_size=3).map(tuple)
    scenes = draw(st.dictionaries(st.sampled_from(["s1", "s2", "s3"]), turns, max_size=3))
    items = draw(st.dictionaries(st.sampled_from(["i1", "i2", "i3"]), turns, max_size=3))
    names = sorted(scenes) or ["s0"]
    item_scenes = {i: tuple(draw(st.lists(st.sampled_from(names), max_size=2))) for i in items}
    return Derivations(scenes=scenes, items=items, item_scenes=item_scenes)


@given(graphs(), st.sampled_from(TURNS))
def test_no_live_text_rests_on_an_erased_or_waiting_turn(graph: Derivations, turn: str) -> None:
    plan = plan_forget(graph, turn, "turn")
    gone = {*plan.turns, *plan.waiting}
    removed = {*plan.scenes, *plan.items}
    for memory, turns in (*graph.scenes.items(), *graph.items.items()):
        if memory not in removed:
            assert not gone & set(turns), (memory, plan)
    for item, scenes in graph.item_scenes.items():
        if item not in removed:
            assert not removed & set(scenes)
    assert turn not in plan.waiting


AT = datetime(2025, 1, 1, tzinfo=UTC)


def test_persona_entries_go_with_the_turns_that_stated_them() -> None:
    deltas = [
        PersonaDelta("Maya", identity=(("occupation", "nurse"),), source_turns=("t1",)),
        PersonaDelta("Maya", preferences=(("food", ("figs",)),), source_turns=("t2",)),
        PersonaDelta("Maya", preferences=(("food", ("plums",)),), source_turns=("t3",)),
    ]
    stored = merge_entries([], deltas, user_id="u", at=AT).written
    change = forget_entries(stored, {"t2"}, (), AT)
    assert [e.value for e in change.erased] == ["figs"]
    assert change.written == change.unsourced == ()
    assert {e.value for e in forget_entries(stored, {"t1", "t2", "t3"}, (), AT).erased} == {
        "nurse",
        "figs",
        "plums",
    }
    assert forget_entries(stored, {"t9"}, (), AT) == forget_entries(stored, (), (), AT)
    assert forget_entries(stored, {"t9"}, (), AT).erased == ()


def test_persona_entries_on_waiting_turns_go_unless_pinned() -> None:
    delta = PersonaDelta("Maya", preferences=(("food", ("figs", "plums")),), source_turns=("t1",))
    figs, plums = merge_entries([], [delta], user_id="u", at=AT).written
    pinned = replace(plums, pinned=True)
    change = forget_entries([figs, pinned], (), {"t1"}, AT)
    assert change.erased == (figs,)  # re-derivation states it again; the pin keeps plums
    # A deleted turn takes a model-written entry even when pinned: a pin guards against the
    # model, not against the user's own deletion.
    assert forget_entries([pinned], {"t1"}, (), AT).erased == (pinned,)


def test_a_hand_written_entry_survives_its_turns_without_them() -> None:
    delta = PersonaDelta("Maya", identity=(("occupation", "nurse"),), source_turns=("t1", "t2"))
    (entry,) = merge_entries([], [delta], user_id="u", at=AT).written
    edited = replace(entry, value="midwife", origin="hand")
    later = datetime(2025, 2, 1, tzinfo=UTC)
    change = forget_entries([edited], {"t1"}, {"t2"}, later)
    assert change.erased == ()
    assert (
        change.written
        == change.unsourced
        == (replace(edited, source_turns=("t2",), updated_at=later),)
    )


def test_an_import_leaves_out_entries_resting_on_forgotten_turns() -> None:
    def entry(entry_id: str, origin: str, turns: list[str]) -> dict[str, object]:
        return {"type": "persona_entry", "id": entry_id, "origin": origin, "source_turns": turns}

    def version(entry_id: str, detail: str) -> dict[str, object]:
        return {"type": "history", "memory_id": entry_id, "event": "created",
                "text": "a nurse", "detail": detail}  # fmt: skip

    rows = [
        entry("p1", "model", ["t1", "t2"]),
        entry("p2", "hand", ["t1", "t2"]),
        entry("p3", "model", ["t2"]),
        entry("p4", "model", []),
        version("p1", "model"),
        version("p2", "model"),
        {**version("p2", "hand"), "event": "updated"},
    ]
    kept = without_forgotten(rows, {"t1", "p4"})
    assert [(r["type"], r.get("id", r.get("memory_id"))) for r in kept] == [
        ("persona_entry", "p2"),
        ("persona_entry", "p3"),
        ("history", "p2"),
        ("history", "p2"),
    ]
    assert kept[0]["source_turns"] == ["t2"]
    # The hand-written entry's model-written version quoted the forgotten turn; its own stays.
    assert [(r["text"], r["detail"]) for r in kept[2:]] == [
        ("", "model; text erased with a forgotten turn"),
        ("a nurse", "hand"),
    ]
