"""Checking a batch's :class:`~tmem.store.base.Basis` against what is stored (issue 12).

Both stores call :func:`check_basis` first thing inside their write transaction, while they
hold the user's write lock (SQLite ``BEGIN IMMEDIATE``, a Postgres advisory transaction lock),
passing functions that read the current state; the comparison itself is shared, so the stores
cannot disagree about what counts as a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tmem.errors import WriteConflictError
from tmem.store.base import Basis

SceneReader = Callable[[Sequence[str]], Mapping[str, tuple[str, ...]]]
"""Scene ids -> their stored source turns (missing scenes left out)."""
LinkReader = Callable[[Sequence[str]], Mapping[str, str | None]]
"""Turn ids -> the scene each is linked to (missing turns left out)."""


def check_basis(
    user_id: str,
    basis: Basis | None,
    *,
    next_seq: Callable[[], int],
    scenes: SceneReader,
    links: LinkReader,
) -> None:
    """Raise :class:`WriteConflictError` if the store no longer matches ``basis``."""
    if basis is None:
        return
    problem = _mismatch(basis, next_seq, scenes, links)
    if problem:
        raise WriteConflictError(f"user {user_id!r} changed while a write was planned: {problem}")


def _mismatch(
    basis: Basis, next_seq: Callable[[], int], scenes: SceneReader, links: LinkReader
) -> str:
    if basis.next_seq is not None:
        current = next_seq()
        if current != basis.next_seq:
            return f"next seq is {current}, not {basis.next_seq}"
    if basis.scenes:
        stored = scenes([scene_id for scene_id, _ in basis.scenes])
        for scene_id, turns in basis.scenes:
            if stored.get(scene_id) != turns:
                return f"scene {scene_id!r} changed"
    if basis.unplaced:
        linked = links(basis.unplaced)
        for turn_id in basis.unplaced:
            if turn_id not in linked or linked[turn_id] is not None:
                return f"turn {turn_id!r} was placed or deleted"
    return ""
