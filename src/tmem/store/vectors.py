"""Exact cosine search over an in-process matrix per (user, space).

Vectors arrive unit-normalised from the embedder, so cosine similarity is a dot product. The
cache keys every matrix by the user's *generation*, a number the store bumps in the same
transaction as any change to that user; a generation read from the database therefore also
notices writes made by another process.

A write the store applies itself need not cost a reload: :meth:`VectorCache.advance` moves a
matrix from the generation before the write to the one after it by appending the batch's
vectors in place (the matrix keeps spare capacity, like a list) and dropping rows the batch
made unsearchable. Exact search over one contiguous float32 matrix was measured against HNSW
(usearch): see ``docs/scaling.md``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from tmem.errors import EmbedderMismatchError, InputError
from tmem.store.base import SPACES, Scored, Vector, VectorRow, WriteBatch

DEFAULT_CACHE_ENTRIES = 256
DEFAULT_CACHE_BYTES = 512 * 2**20
"""Matrices kept at most (the most recent one always stays): bounds a server's RSS."""


@dataclass(frozen=True)
class VectorMatrix:
    """The searchable vectors of one user in one space, row ``i`` owned by ``ids[i]``.

    ``matrix`` may be a view of the first rows of a larger buffer whose spare rows
    :meth:`appended` fills; rows past ``len(ids)`` are never visible through this object.
    """

    generation: int
    ids: tuple[str, ...]
    matrix: npt.NDArray[np.float32]
    _buffer: npt.NDArray[np.float32] | None = field(default=None, compare=False, repr=False)
    _rows: dict[str, int] | None = field(default=None, compare=False, repr=False)

    @property
    def nbytes(self) -> int:
        return int((self._buffer if self._buffer is not None else self.matrix).nbytes)

    def row_of(self) -> dict[str, int]:
        """Row number by id; built once per lineage and shared by its later appends."""
        if self._rows is not None:
            return self._rows
        rows = {owner: i for i, owner in enumerate(self.ids)}
        object.__setattr__(self, "_rows", rows)
        return rows

    def appended(
        self, generation: int, owners: Sequence[str], vectors: npt.NDArray[np.float32]
    ) -> VectorMatrix:
        """This matrix with new rows at the end, as of ``generation``; ``owners`` are new ids.

        The rows are written into the spare capacity of the shared buffer when it has room
        (growing it by half otherwise), so a stream of small writes costs amortised O(rows
        written), not a copy of the whole matrix. Only the newest matrix of a lineage may be
        appended to: the cache guarantees it by replacing its entry.
        """
        count, added = len(self.ids), len(owners)
        buffer = self._buffer if self._buffer is not None else self.matrix
        if buffer.shape[0] < count + added:
            rows_wanted = max(count + added, count * 3 // 2, 64)
            grown = np.empty((rows_wanted, self.matrix.shape[1]), dtype=np.float32)
            grown[:count] = self.matrix
            buffer = grown
        buffer[count : count + added] = vectors
        rows = self.row_of()
        for i, owner in enumerate(owners):
            rows[owner] = count + i
        return VectorMatrix(
            generation, self.ids + tuple(owners), buffer[: count + added], buffer, rows
        )

    def without(self, generation: int, owners: Collection[str]) -> VectorMatrix:
        """A compacted copy without the rows of ``owners`` (ids not present are ignored)."""
        keep = [i for i, owner in enumerate(self.ids) if owner not in owners]
        return VectorMatrix(
            generation, tuple(self.ids[i] for i in keep), np.ascontiguousarray(self.matrix[keep])
        )

    def updated(
        self, generation: int, upserts: Sequence[tuple[str, Vector]], delta: Delta
    ) -> VectorMatrix | None:
        """Apply one write: drop removed and replaced ids, then append ``upserts``.

        None when an upsert's owner is neither written by the batch nor already here: whether
        that owner exists (so whether its vector is searchable) only the database can say.
        """
        dim = self.matrix.shape[1]
        known = self.row_of()
        fresh = [(o, v) for o, v in dict(upserts).items() if v.shape == (dim,)]
        if any(o not in delta.owners and o not in known for o, _ in fresh):
            return None
        gone = {o for o in delta.removed if o in known} | {o for o, _ in fresh if o in known}
        base = self.without(generation, gone) if gone else self
        if not fresh:
            if gone:
                return base
            return VectorMatrix(generation, self.ids, self.matrix, self._buffer, self._rows)
        stacked = np.stack([v for _, v in fresh]).astype(np.float32, copy=False)
        return base.appended(generation, [o for o, _ in fresh], stacked)

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


def check_query(space: str, query: Vector) -> Vector:
    """``query`` as float32, after checking its space, shape and values.

    Raises:
        InputError: unknown space, not one-dimensional, or not finite.
    """
    if space not in SPACES:
        raise InputError(f"unknown vector space {space!r}; expected one of {SPACES}")
    vector = np.asarray(query, dtype=np.float32)
    if vector.ndim != 1 or not np.isfinite(vector).all():
        raise InputError("a query vector must be one-dimensional and finite")
    return vector


def checked_vector(row: VectorRow, dim: int | None, *, allow_empty: bool = False) -> Vector:
    """``row``'s vector as float32, after checking its space, shape, values and length.

    ``allow_empty``: accept a vector of no dimensions (the SQLite wing always has).

    Raises:
        InputError: unknown space, not one-dimensional, or not finite.
        EmbedderMismatchError: its length differs from the store's dimension ``dim``.
    """
    if row.space not in SPACES:
        raise InputError(f"unknown vector space {row.space!r}; expected one of {SPACES}")
    vector = np.asarray(row.vector, dtype=np.float32)
    empty = vector.ndim == 1 and vector.shape[0] == 0 and not allow_empty
    if vector.ndim != 1 or empty or not np.isfinite(vector).all():
        raise InputError(f"vector of {row.owner_id!r} must be one-dimensional and finite")
    if dim is not None and vector.shape[0] != dim:
        raise EmbedderMismatchError(
            f"vector of {row.owner_id!r} has {vector.shape[0]} dimensions; the store's embedder"
            f" has {dim}"
        )
    return vector


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


@dataclass(frozen=True)
class Delta:
    """What one write changes in a user's searchable vectors."""

    upserts: dict[str, list[tuple[str, Vector]]]
    """New or replaced vectors by space."""
    removed: frozenset[str]
    """Owners made unsearchable (superseded items)."""
    owners: frozenset[str]
    """Owners the batch writes itself, so known to exist after it."""


def batch_delta(batch: WriteBatch) -> Delta | None:
    """The searchable-vector change ``batch`` makes, or None when only a reload can tell.

    A vector is searchable while its owner exists (and, for an item, is active). A batch
    that removes trigger edges (which may delete triggers) or writes an inactive item changes
    searchability in ways the batch alone does not show. A vector for an owner the batch does
    not write (an old turn's context after its scene grew) is decided per matrix: it is
    applied when the owner is already in the matrix, and the matrix reloads otherwise.
    """
    if batch.delete_triggers_of or any(item.status != "active" for item in batch.items):
        return None
    owners = {t.id for t in batch.turns} | {s.id for s in batch.scenes}
    owners |= {i.id for i in batch.items} | {t.id for t in batch.triggers}
    upserts: dict[str, list[tuple[str, Vector]]] = {}
    for row in batch.vectors:
        vector = np.asarray(row.vector, dtype=np.float32)
        upserts.setdefault(row.space, []).append((row.owner_id, vector))
    removed = frozenset(s.old_id for s in batch.supersessions)
    return Delta(upserts, removed, frozenset(owners))


class VectorCache:
    """A bounded LRU of :class:`VectorMatrix` per (user, space); not thread-safe on its own.

    Bounded both by entries and by bytes, so a server with many users keeps the matrices of
    the recently searched ones and its RSS stays flat.
    """

    def __init__(
        self, max_entries: int = DEFAULT_CACHE_ENTRIES, max_bytes: int = DEFAULT_CACHE_BYTES
    ) -> None:
        self._entries: OrderedDict[tuple[str, str, int], VectorMatrix] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0

    def get(self, user_id: str, space: str, dim: int, generation: int) -> VectorMatrix | None:
        key = (user_id, space, dim)
        entry = self._entries.get(key)
        if entry is None or entry.generation != generation:
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, user_id: str, space: str, dim: int, matrix: VectorMatrix) -> None:
        key = (user_id, space, dim)
        old = self._entries.pop(key, None)
        self._bytes += matrix.nbytes - (old.nbytes if old is not None else 0)
        self._entries[key] = matrix
        while len(self._entries) > 1 and (
            len(self._entries) > self._max_entries or self._bytes > self._max_bytes
        ):
            _, evicted = self._entries.popitem(last=False)
            self._bytes -= evicted.nbytes

    def forget(self, user_id: str) -> None:
        """Drop every matrix of ``user_id`` (its rows changed or were deleted)."""
        for key in [key for key in self._entries if key[0] == user_id]:
            self._bytes -= self._entries.pop(key).nbytes

    def advance(self, user_id: str, before: int | None, after: int, delta: Delta | None) -> None:
        """Carry the user's matrices from generation ``before`` to ``after`` through ``delta``.

        Call it inside the write's transaction, after the write: ``before`` is the generation
        read in that transaction before the write. A matrix of any other generation (another
        process wrote in between) or a write without a delta drops the user's matrices.
        """
        keys = [key for key in self._entries if key[0] == user_id]
        if delta is None or before is None:
            self.forget(user_id)
            return
        for key in keys:
            entry = self._entries[key]
            if entry.generation != before:
                self._bytes -= self._entries.pop(key).nbytes
                continue
            updated = entry.updated(after, delta.upserts.get(key[1], []), delta)
            self._bytes -= entry.nbytes
            if updated is None:
                del self._entries[key]
                continue
            self._bytes += updated.nbytes
            self._entries[key] = updated

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
