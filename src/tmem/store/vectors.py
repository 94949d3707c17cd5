"""Exact cosine search over an in-process matrix per (user, space).

Vectors arrive unit-normalised from the embedder, so cosine similarity is a dot product. The
cache keys every matrix by the user's *generation*, a number the store bumps in the same
transaction as any change to that user; a generation read from the database therefore also
notices writes made by another process.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tmem.store.base import Scored, Vector

DEFAULT_CACHE_ENTRIES = 256


@dataclass(frozen=True)
class VectorMatrix:
    """The searchable vectors of one user in one space, row ``i`` owned by ``ids[i]``."""

    generation: int
    ids: tuple[str, ...]
    matrix: npt.NDArray[np.float32]

    @classmethod
    def build(cls, generation: int, rows: Sequence[tuple[str, Vector]], dim: int) -> VectorMatrix:
        """Stack ``rows`` whose length is ``dim``; rows of another length can never match."""
        kept = [(owner, vector) for owner, vector in rows if vector.shape == (dim,)]
        if not kept:
            return cls(generation, (), np.zeros((0, dim), dtype=np.float32))
        matrix = np.stack([vector for _, vector in kept]).astype(np.float32, copy=False)
        return cls(generation, tuple(owner for owner, _ in kept), matrix)

    @classmethod
    def from_blobs(
        cls, generation: int, rows: Sequence[tuple[str, bytes]], dim: int
    ) -> VectorMatrix:
        """Like :meth:`build` from little-endian float32 blobs, decoded in one numpy call."""
        kept = [(owner, blob) for owner, blob in rows if len(blob) == 4 * dim]
        joined = b"".join(blob for _, blob in kept)
        matrix = np.frombuffer(joined, dtype="<f4").astype(np.float32).reshape(len(kept), dim)
        return cls(generation, tuple(owner for owner, _ in kept), matrix)


def top_k(matrix: VectorMatrix, query: Vector, limit: int) -> list[Scored]:
    """The ``limit`` best rows by dot product, best first; ties broken by id for a stable order."""
    count = len(matrix.ids)
    if limit <= 0 or count == 0:
        return []
    scores = matrix.matrix @ np.asarray(query, dtype=np.float32)
    if limit < count:
        # argpartition finds the top ``limit`` in linear time; rows tied with the last of them
        # join the candidates so the id tie-break, not argpartition, decides who is cut.
        kth = scores[np.argpartition(-scores, limit - 1)[limit - 1]]
        chosen = np.flatnonzero(scores >= kth)
    else:
        chosen = np.arange(count)
    ids = [matrix.ids[i] for i in chosen]
    order = sorted(range(len(chosen)), key=lambda j: (-float(scores[chosen[j]]), ids[j]))[:limit]
    return [Scored(ids[j], float(scores[chosen[j]])) for j in order]


class VectorCache:
    """A bounded LRU of :class:`VectorMatrix` per (user, space); not thread-safe on its own."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES) -> None:
        self._entries: OrderedDict[tuple[str, str, int], VectorMatrix] = OrderedDict()
        self._max_entries = max_entries

    def get(self, user_id: str, space: str, dim: int, generation: int) -> VectorMatrix | None:
        key = (user_id, space, dim)
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, user_id: str, space: str, dim: int, matrix: VectorMatrix) -> None:
        self._entries[(user_id, space, dim)] = matrix
        self._entries.move_to_end((user_id, space, dim))
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, user_id: str) -> None:
        """Drop every matrix of ``user_id`` (its rows changed or were deleted)."""
        for key in [key for key in self._entries if key[0] == user_id]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
