"""What deleting one memory takes with it: a pure plan every backend applies the same way.

Rules (the :meth:`tmem.store.base.Store.delete_memory` contract): deleting a turn removes it
from every scene and item that cites it, and a scene or item left with no source turn goes
too; deleting a scene removes it from the items extracted from it, and an item left with no
scene goes too; a trigger left with no target goes. Memories that never had sources (imports,
hand-written items) are only deleted when asked for directly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MemoryGraph:
    """The links of one user's memories that deletion follows.

    Attributes:
        sources: scene or item id -> its source turn ids.
        scenes_of: item id -> the scene ids it was extracted from.
        targets: trigger id -> the memory ids it points at.
    """

    sources: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    scenes_of: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    targets: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class DeletionPlan:
    """The outcome of deleting ``memories[0]``.

    Attributes:
        memories: every memory to delete, the requested one first.
        sources: surviving memories whose source turns shrank -> what is left.
        scenes_of: surviving items whose scene list shrank -> what is left.
        triggers: triggers left with no target.
    """

    memories: tuple[str, ...]
    sources: dict[str, tuple[str, ...]]
    scenes_of: dict[str, tuple[str, ...]]
    triggers: tuple[str, ...]


def _dependents(links: Mapping[str, tuple[str, ...]], gone: str) -> list[str]:
    return sorted(owner for owner, linked in links.items() if gone in linked)


def _prune(
    links: Mapping[str, tuple[str, ...]],
    pruned: dict[str, tuple[str, ...]],
    owner: str,
    gone: str,
) -> bool:
    """Drop ``gone`` from ``owner``'s links; True when nothing is left."""
    remaining = tuple(x for x in pruned.get(owner, links[owner]) if x != gone)
    pruned[owner] = remaining
    return not remaining


def plan_deletion(graph: MemoryGraph, memory_id: str) -> DeletionPlan:
    """Follow the cascade from ``memory_id`` through ``graph``; touches no store."""
    deleted: dict[str, None] = {memory_id: None}
    sources: dict[str, tuple[str, ...]] = {}
    scenes_of: dict[str, tuple[str, ...]] = {}
    queue = deque([memory_id])
    while queue:
        gone = queue.popleft()
        for links, pruned in ((graph.sources, sources), (graph.scenes_of, scenes_of)):
            for owner in _dependents(links, gone):
                if owner not in deleted and _prune(links, pruned, owner, gone):
                    deleted[owner] = None
                    queue.append(owner)
    for owner in deleted:
        sources.pop(owner, None)
        scenes_of.pop(owner, None)
    orphans = tuple(
        trigger
        for trigger, targets in sorted(graph.targets.items())
        if targets and all(target in deleted for target in targets)
    )
    return DeletionPlan(tuple(deleted), sources, scenes_of, orphans)
