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

Persona entries follow the same rules (:mod:`tmem.persona.entries`): one the model wrote from
an erased turn goes, pinned or not, and so does an unpinned one resting on a waiting turn; a
hand-written entry stays, without the erased turn, and its history's model-written versions
lose their text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from typing import Any

from tmem.models import Kind
from tmem.store.base import Forgetting

__all__ = ["Derivations", "Forgetting", "plan_forget", "without_forgotten"]


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


def plan_forget(graph: Derivations, memory_id: str, kind: Kind) -> Forgetting:
    """Apply the module's rules to forgetting ``memory_id`` (a ``kind``); touches no store."""
    resting = _resting_on(graph)
    erased = {memory_id} if kind == "turn" else set()
    removed: set[str] = set()
    waiting: set[str] = set()
    turns = [memory_id] if kind == "turn" else []
    memories = [] if kind == "turn" else [memory_id]
    while turns or memories:
        if turns:
            memories.extend(resting.get(turns.pop(), ()))
            continue
        memory = memories.pop()
        if memory in removed:
            continue
        removed.add(memory)
        memories.extend(resting.get(memory, ()))  # the items extracted from a scene
        if kind == "item" and memory == memory_id:
            continue  # rule 5: its turns stay covered by their scene
        for turn in graph.scenes.get(memory, graph.items.get(memory, ())):
            if turn not in erased and turn not in waiting:
                waiting.add(turn)
                turns.append(turn)
    scenes = {m for m in removed if m in graph.scenes or (m == memory_id and kind == "scene")}
    gone = erased | removed
    triggers = {t for t, targets in graph.triggers.items() if gone.intersection(targets)}
    return Forgetting(
        requested=memory_id,
        turns=tuple(sorted(erased)),
        scenes=tuple(sorted(scenes)),
        items=tuple(sorted(removed - scenes)),
        triggers=tuple(sorted(triggers)),
        waiting=tuple(sorted(waiting)),
    )


def _resting_on(graph: Derivations) -> dict[str, set[str]]:
    """Turn or scene id -> the scenes and items resting on it."""
    resting: dict[str, set[str]] = {}
    for owner, turns in (*graph.scenes.items(), *graph.items.items()):
        for turn in turns:
            resting.setdefault(turn, set()).add(owner)
    for item, scenes in graph.item_scenes.items():
        for scene in scenes:
            resting.setdefault(scene, set()).add(item)
    return resting


def without_forgotten(
    rows: Sequence[Mapping[str, Any]], forgotten: Set[str]
) -> list[dict[str, Any]]:
    """Export rows minus what rests on a ``forgotten`` memory (one with a deletion tombstone).

    An import must not bring back what the user deleted: a row of a forgotten memory or
    persona entry, a scene, item or model-written persona entry resting on a forgotten turn or
    scene, a trigger pointing at anything dropped, the vectors and history of what was dropped,
    and the model-written history text of a hand-written entry that rested on a forgotten
    turn. Tombstones themselves are kept.
    """
    gone = set(forgotten)
    unsourced: set[str] = set()
    for row in rows:
        resting = {*row.get("source_turns", ()), *row.get("scene_ids", ())}
        if row.get("type") == "persona_entry" and row.get("origin") == "hand" and resting & gone:
            unsourced.add(str(row["id"]))
        elif row.get("type") in ("scene", "item", "persona_entry") and resting & gone:
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
        if row.get("type") == "persona_entry" and owner in unsourced:
            row = {**row, "source_turns": [t for t in row["source_turns"] if t not in gone]}
        if row.get("type") == "history" and owner in unsourced and row.get("detail") == "model":
            row = {**row, "text": "", "detail": "model; text erased with a forgotten turn"}
        kept.append(dict(row))
    return kept
