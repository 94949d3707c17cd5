"""Merge derived memories into the turn ranking without ranking any turn lower than the turns do.

Full mode adds scenes and items, written by a model, to turns that LLM-free mode already ranks
well. A model can write nothing useful, or worse, text that matches a query better than the
turn that answers it. The merge therefore treats the turn ranking (the exact LLM-free ranking
over every turn) as a floor. Expand a ranking into turns as the benchmarks do (each hit's
``source_turns`` in order, repeats dropped); then

    every turn among the first ``limit`` ranked turns sits in the merged expansion at a
    position no later than its own rank, so its first covering hit is no lower either.

It fills the result hit by hit. With ``n`` turns shown so far (they are the first ``n`` ranked
turns), the next hit is the best remaining derived memory that adds exactly the next ranked
turns in their ranked order (an item stating the next turn, a scene made of the next few),
else the next turn itself. Once the ranked turns are all shown, the remaining derived memories
follow in their own order, including those that add no turn (an item under a scene already
shown; earlier, it would push the later turns down a hit). The same evidence is never shown
twice: a scene whose turns are all shown is skipped, and so is an item or turn whose turns
earlier items or turns already state (a scene's narrative does not stand in for a fact stated
in one of its turns).

A stricter floor than a rank-by-hit one: a scene of ten turns ranked first would push every
other turn ten positions down. The cost is that a derived memory climbs above the turns only
by standing in for them; a trigger that reaches a memory the turns rank low adds nothing within
``limit``. Pure: hits in, hits out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

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
    floor = [t.id for t in turns[:limit]]
    state = _State(pending=list(derived))
    out: list[Hit] = []
    while len(out) < limit:
        hit = state.take_derived(floor) or _next_turn(turns, state)
        if hit is None:
            break
        state.show(hit)
        out.append(hit)
    return [replace(hit, score=1.0 / (k + rank)) for rank, hit in enumerate(out, start=1)]


@dataclass
class _State:
    pending: list[Hit]
    covered: list[str] = field(default_factory=list)
    """Turns shown so far, in expansion order."""
    stated: set[str] = field(default_factory=set)
    """Turns shown by an item or by the turn itself."""

    def show(self, hit: Hit) -> None:
        seen = set(self.covered)
        self.covered.extend(t for t in dict.fromkeys(hit.source_turns) if t not in seen)
        if hit.kind != "scene":
            self.stated.update(hit.source_turns)

    def redundant(self, hit: Hit) -> bool:
        seen = set(self.covered) if hit.kind == "scene" else self.stated
        return seen.issuperset(hit.source_turns)

    def take_derived(self, floor: Sequence[str]) -> Hit | None:
        """The best pending derived hit that keeps the floor, removed from ``pending``."""
        self.pending = [h for h in self.pending if not self.redundant(h)]
        for index, hit in enumerate(self.pending):
            if self.keeps_floor(hit, floor):
                return self.pending.pop(index)
        return None

    def keeps_floor(self, hit: Hit, floor: Sequence[str]) -> bool:
        """Whether ``hit`` adds the next turns of ``floor`` in their order (anything once the
        floor is shown)."""
        seen = set(self.covered)
        new = [t for t in dict.fromkeys(hit.source_turns) if t not in seen]
        start = len(self.covered)
        if not new:
            return start >= len(floor)
        due = list(floor[start : start + len(new)])
        return new[: len(due)] == due


def _next_turn(turns: Sequence[Hit], state: _State) -> Hit | None:
    shown = set(state.covered)
    return next((t for t in turns if t.id not in shown), None)
