"""Planning a write again when another writer changed the user first (issue 12).

A write is planned outside the store's transaction (numbering, grouping, embedding and LLM
calls take time) and carries the :class:`~tmem.store.base.Basis` it was planned on; the store
refuses it with :class:`~tmem.errors.WriteConflictError` if another thread, process or machine
changed that basis meanwhile. The caller then plans again from what is now stored.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from tmem.errors import WriteConflictError

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
