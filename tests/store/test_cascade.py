"""The pure deletion planner."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tmem.store.cascade import MemoryGraph, plan_deletion

GRAPH = MemoryGraph(
    sources={"s1": ("t1", "t2"), "s2": ("t1",), "i1": ("t1",), "i2": ("t1", "t3"), "i3": ()},
    scenes_of={"i1": ("s2",), "i2": ("s1",), "i3": ("s2",)},
    targets={"g1": ("i1",), "g2": ("i1", "i2"), "g3": ("s2", "i3"), "g4": ()},
)


def test_turn_deletion_follows_sources_and_scenes() -> None:
    plan = plan_deletion(GRAPH, "t1")
    assert plan.memories[0] == "t1"
    # s2 and i1 lose their only source; i3 (no sources of its own) goes with its only scene.
    assert set(plan.memories) == {"t1", "s2", "i1", "i3"}
    assert plan.sources == {"s1": ("t2",), "i2": ("t3",)}
    assert plan.scenes_of == {}
    assert plan.triggers == ("g1", "g3")


def test_scene_deletion_prunes_item_scene_lists() -> None:
    graph = MemoryGraph(scenes_of={"i1": ("s1", "s2"), "i2": ("s1",)})
    plan = plan_deletion(graph, "s1")
    assert plan.memories == ("s1", "i2")
    assert plan.scenes_of == {"i1": ("s2",)}


def test_unrelated_memory_deletes_only_itself() -> None:
    plan = plan_deletion(GRAPH, "i2")
    assert plan.memories == ("i2",) and plan.triggers == ()
    assert plan.sources == {} and plan.scenes_of == {}


@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "c", "d"]),
        st.lists(st.sampled_from(["t1", "t2", "a", "b"]), max_size=3).map(tuple),
    ),
    st.sampled_from(["t1", "t2", "a", "b", "c"]),
)
def test_plan_is_closed_under_the_rules(sources: dict[str, tuple[str, ...]], root: str) -> None:
    plan = plan_deletion(MemoryGraph(sources=sources), root)
    deleted = set(plan.memories)
    for owner, linked in sources.items():
        if owner in deleted or not linked:
            continue
        # A survivor keeps exactly its links that were not deleted, and keeps at least one.
        left = tuple(x for x in linked if x not in deleted)
        assert left
        assert plan.sources.get(owner, linked) == left
