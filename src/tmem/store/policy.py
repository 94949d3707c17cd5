"""What forgetting one memory erases and what it sends back to *waiting*: one pure rule set.

Both stores apply :func:`plan_forget` the same way (``delete_memory``); :mod:`tmem.memory`
reads the same plan first to embed the turns that go back to waiting.

The rules keep one invariant: **a turn is either derived (some live scene or item rests on
it) or waiting (none does), and no live derived text rests on an erased turn.**

1. Erasing a turn erases every scene and item whose source turns include it. A derived text
   is never trimmed: a narrative or fact written from several turns may carry the erased one's
   content in any sentence, so it goes whole.
2. Every surviving turn a removed scene or item covered goes back to waiting: it is searchable
   as a turn again (with a ``context`` vector, like after a failed extraction), and the next
   ``reindex`` derives it afresh from what is left.
3. A scene or item resting on a waiting turn goes too (re-deriving the turn would otherwise
   write a twin of it), as does an item extracted from a removed scene; repeat until stable.
4. A trigger pointing at any removed memory goes (its text was written from that memory),
   even when it points at others too.
5. Erasing a scene sends its turns back to waiting by rules 2-3. Erasing an item directly
   takes only the item and its triggers: its turns stay covered by their scene.

Memories with no source turns (imports, hand-written items) go only when asked for directly
or with their scene.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from tmem.models import Kind
from tmem.persona.merge import forget_turns
from tmem.store.codec import persona_from_dict, persona_to_dict


@dataclass(frozen=True)
class Derivations:
    """What one user's derived memories rest on.

    Attributes:
        scenes: scene id -> its source turn ids.
        items: item id -> its source turn ids.
        item_scenes: item id -> the scene ids it was extracted from.
        triggers: trigger id -> the memory ids it points at.
    """

    scenes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    items: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    item_scenes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    triggers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Forgetting:
    """The outcome of forgetting ``requested``; every tuple sorted.

    Attributes:
        requested: the memory asked for.
        turns: turns erased (the requested one, when it is a turn).
        scenes: scenes erased.
        items: items erased.
        triggers: triggers erased.
        waiting: surviving turns that go back to waiting.
    """

    requested: str
    turns: tuple[str, ...] = ()
    scenes: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()

    @property
    def memories(self) -> tuple[str, ...]:
        """Every memory erased, the requested one first."""
        rest = (m for m in (*self.turns, *self.scenes, *self.items) if m != self.requested)
        return (self.requested, *rest)


def plan_forget(graph: Derivations, memory_id: str, kind: Kind) -> Forgetting:
    """Apply the module's rules to forgetting ``memory_id`` (a ``kind``); touches no store."""
    erased = {memory_id} if kind == "turn" else set()
    scenes = {memory_id} if kind == "scene" else set()
    items = {memory_id} if kind == "item" else set()
    waiting: set[str] = set()
    changed = True
    while changed:
        gone = erased | waiting
        new_scenes = {s for s, turns in graph.scenes.items() if gone.intersection(turns)}
        new_items = {
            i
            for i, turns in graph.items.items()
            if gone.intersection(turns) or scenes.intersection(graph.item_scenes.get(i, ()))
        }
        changed = not (new_scenes <= scenes and new_items <= items)
        scenes |= new_scenes
        items |= new_items
        waiting = _uncovered(graph, scenes, items - {memory_id} if kind == "item" else items)
        waiting -= erased
    removed = erased | scenes | items
    triggers = {t for t, targets in graph.triggers.items() if removed.intersection(targets)}
    return Forgetting(
        requested=memory_id,
        turns=tuple(sorted(erased)),
        scenes=tuple(sorted(scenes)),
        items=tuple(sorted(items)),
        triggers=tuple(sorted(triggers)),
        waiting=tuple(sorted(waiting)),
    )


def _uncovered(graph: Derivations, scenes: set[str], items: set[str]) -> set[str]:
    """Turns the removed ``scenes`` and ``items`` rested on."""
    turns: set[str] = set()
    for scene in scenes:
        turns.update(graph.scenes.get(scene, ()))
    for item in items:
        turns.update(graph.items.get(item, ()))
    return turns


def without_forgotten(
    rows: Sequence[Mapping[str, Any]], forgotten: Set[str]
) -> list[dict[str, Any]]:
    """Export rows minus what rests on a ``forgotten`` memory (one with a deletion tombstone).

    An import must not bring back what the user deleted: a row of a forgotten memory, a scene
    or item resting on a forgotten turn or scene, a trigger pointing at anything dropped, the
    vectors and history of what was dropped, and persona entries stated in forgotten turns.
    Tombstones themselves are kept.
    """
    gone = set(forgotten)
    for row in rows:
        resting = {*row.get("source_turns", ()), *row.get("scene_ids", ())}
        if row.get("type") in ("scene", "item") and resting & gone:
            gone.add(str(row["id"]))
    for row in rows:
        if row.get("type") == "trigger" and {str(t[0]) for t in row.get("targets", ())} & gone:
            gone.add(str(row["id"]))
    kept: list[dict[str, Any]] = []
    for row in rows:
        owner = row.get("id", row.get("owner_id", row.get("memory_id")))
        tombstone = row.get("type") == "history" and row.get("event") == "deleted"
        if owner in gone and not tombstone:
            continue
        if row.get("type") == "persona" and row.get("sources"):
            profile = forget_turns(persona_from_dict("", row), gone)
            row = {**row, **persona_to_dict(profile)}
        kept.append(dict(row))
    return kept
