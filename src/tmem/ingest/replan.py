"""Planning a write again when another writer changed the user first (issue 12).

A write is planned outside the store's transaction (numbering, grouping, embedding and LLM
calls take time) and carries the :class:`~tmem.store.base.Basis` it was planned on; the store
refuses it with :class:`~tmem.errors.WriteConflictError` if another thread, process or machine
changed that basis meanwhile. The caller then plans again from what is now stored.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from tmem.errors import WriteConflictError
from tmem.models import Scene, Turn, is_plain_scene
from tmem.store.base import Basis

T = TypeVar("T")

ATTEMPTS = 200
"""Plans tried before giving up. Re-planning an LLM-free write costs a few reads and the
embedding of the texts that changed, so writers of one user simply take turns."""
_FIRST_PAUSE = 0.002
_LONGEST_PAUSE = 0.25


def pause(attempt: int) -> float:
    """Seconds to wait before plan number ``attempt + 1``: random, growing, capped.

    The randomness keeps colliding writers from colliding again in lockstep.
    """
    return random.uniform(0, min(_LONGEST_PAUSE, _FIRST_PAUSE * 2**attempt))


def replanned(
    plan_and_write: Callable[[], T],
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``plan_and_write`` until it is not refused for a conflict, at most ``attempts`` times.

    Raises:
        WriteConflictError: the last attempt was refused too; nothing of it was written.
    """
    for attempt in range(attempts - 1):
        try:
            return plan_and_write()
        except WriteConflictError:
            sleep(pause(attempt))
    return plan_and_write()


def whole_plain_scenes(turn_ids: set[str], scenes: Sequence[Scene]) -> set[str]:
    """``turn_ids`` with every other turn of the plain scenes holding one of them.

    A plain scene is derived whole: moving only some of its turns into new scenes would leave
    it listing turns that now link elsewhere.
    """
    chosen = set(turn_ids)
    for scene in scenes:
        if is_plain_scene(scene) and not chosen.isdisjoint(scene.source_turns):
            chosen.update(scene.source_turns)
    return chosen


def derivation_basis(turns: Sequence[Turn], scenes: Sequence[Scene]) -> Basis:
    """What deriving ``turns`` depends on: the ``scenes`` read (the open scene it may extend
    and those holding the turns), and that turns held by none of them are still in none."""
    read = {scene.id: scene.source_turns for scene in scenes}
    held = {turn_id for members in read.values() for turn_id in members}
    unplaced = tuple(t.id for t in turns if t.id not in held)
    return Basis(scenes=tuple(read.items()), unplaced=unplaced)
