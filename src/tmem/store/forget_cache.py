"""Forgetting plans kept between planning and erasing, while the user stays unchanged.

``Memory.delete`` plans a deletion in a read snapshot (to embed what goes back to waiting),
then erases in a write transaction. A store whose writes exclude each other (SQLite's one
write lock for the whole file) would otherwise plan again inside that transaction, loading the
user's whole memory graph while every other tenant's write waits. A plan is reusable only when
the user's generation, which every change of the user's memories replaces with a new, never
reused number, is the one the plan was made at.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from tmem.store.base import Forgetting

KEPT = 64
"""Plans kept at most; the oldest goes first (a plan is normally taken at once)."""


class PlanCache:
    """Plans by ``(user_id, memory_id)``, each with the generation it was made at."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: OrderedDict[tuple[str, str], tuple[int, Forgetting]] = OrderedDict()

    def keep(self, user_id: str, memory_id: str, generation: int | None, plan: Forgetting) -> None:
        """Remember ``plan``, made when the user was at ``generation`` (None: unknown user)."""
        if generation is None:
            return
        with self._lock:
            self._plans[(user_id, memory_id)] = (generation, plan)
            self._plans.move_to_end((user_id, memory_id))
            while len(self._plans) > KEPT:
                self._plans.popitem(last=False)

    def take(self, user_id: str, memory_id: str, generation: int | None) -> Forgetting | None:
        """The plan kept for the memory if the user is still at its generation, else None.

        The plan is forgotten either way: a deletion uses it once.
        """
        with self._lock:
            kept = self._plans.pop((user_id, memory_id), None)
        if kept is None or generation is None or kept[0] != generation:
            return None
        return kept[1]
