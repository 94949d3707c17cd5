"""Merge derived memories into the turn ranking without ranking any turn lower than the turns do.

Full mode adds scenes and items, written by a model, to turns that LLM-free mode already ranks
well. A model can write nothing useful, or worse, text that matches a query better than the
turn that answers it. The merge therefore treats the turn ranking (the exact LLM-free ranking
over every turn) as a floor:

    for every turn t among the first ``limit`` ranked turns, the first merged hit whose
    ``source_turns`` contain t is at a rank no worse than t's own rank in the turn ranking.

It fills the result one rank at a time. When the turn at this rank is not yet covered by an
earlier hit, the rank goes to the best remaining derived memory if that memory covers it (the
derived memory stands in for its turn) and otherwise to the turn itself. When the turn at this
rank is already covered (an earlier scene or item covered several of the top turns), the rank
is free and goes to the best remaining derived memory: this is how a memory reached only by a
trigger climbs. The same evidence is never shown twice: a scene whose turns are all covered
already is skipped, and so is an item or turn whose turns earlier items or turns already show
(a scene's narrative does not stand in for a fact stated in one of its turns). Pure: hits in,
hits out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace

from tmem.models import Hit


def merge_floor(turns: Sequence[Hit], derived: Sequence[Hit], limit: int, k: int = 60) -> list[Hit]:
    """The merged ranking (see the module docstring).

    Args:
        turns: turn hits, best first (the LLM-free ranking).
        derived: scene and item hits, best first.
        limit: how many hits to return.
        k: the reciprocal-rank constant of the merged scores.

    Returns:
        At most ``limit`` hits. Without derived hits, ``turns[:limit]`` unchanged; otherwise
        every hit is rescored ``1 / (k + rank)``, because the turn and derived scores come from
        separate fusions and are not comparable.
    """
    if not derived:
        return list(turns[:limit])
    queue = deque(derived)
    shown = _Shown()
    out: list[Hit] = []
    for rank in range(limit):
        due = turns[rank] if rank < len(turns) else None
        hit = _next_hit(due, queue, turns, shown)
        if hit is None:
            break
        shown.add(hit)
        out.append(hit)
    return [replace(hit, score=1.0 / (k + rank)) for rank, hit in enumerate(out, start=1)]


class _Shown:
    """Turns covered by any hit so far, and those shown by an item or a turn itself."""

    def __init__(self) -> None:
        self.covered: set[str] = set()
        self.stated: set[str] = set()

    def add(self, hit: Hit) -> None:
        self.covered.update(hit.source_turns)
        if hit.kind != "scene":
            self.stated.update(hit.source_turns)

    def redundant(self, hit: Hit) -> bool:
        seen = self.covered if hit.kind == "scene" else self.stated
        return bool(hit.source_turns) and seen.issuperset(hit.source_turns)


def _next_hit(
    due: Hit | None, queue: deque[Hit], turns: Sequence[Hit], shown: _Shown
) -> Hit | None:
    while queue and shown.redundant(queue[0]):
        queue.popleft()
    if due is not None and due.id not in shown.covered:
        if queue and due.id in queue[0].source_turns:
            return queue.popleft()
        return due
    if queue:
        return queue.popleft()
    return next((t for t in turns if not shown.redundant(t)), None)
