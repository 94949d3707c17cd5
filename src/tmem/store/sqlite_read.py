"""Read paths of the SQLite store: functions over a connection inside a read snapshot.

Every query names ``user_id``; ids from callers are bound as parameters, never spliced.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from tmem.errors import InputError
from tmem.models import KINDS, HistoryEntry, Kind, PersonaProfile, Record, Scene, Trigger, Turn
from tmem.store import codec, sqlite_fts
from tmem.store.base import SPACES, Scored, Vector
from tmem.store.sqlite_rows import fetch_rows, in_chunks
from tmem.store.vectors import VectorCache, VectorMatrix, top_k

_SPACE_OWNERS: dict[str, str] = {
    "turn": "turns",
    "context": "turns",
    "scene": "scenes",
    "dialogue": "scenes",
    "item": "items",
    "entity": "triggers",
    "bridge": "triggers",
    "scene_trigger": "triggers",
    "horizon": "triggers",
}
"""The table owning each vector space; a vector whose owner is gone is never returned."""


def records(
    conn: sqlite3.Connection,
    user_id: str,
    kind: str,
    where: str = "",
    params: Sequence[Any] = (),
    *,
    ordered: bool = True,
) -> list[Record]:
    return [
        codec.memory_from_dict(user_id, row)
        for row in fetch_rows(conn, kind, user_id, where, params, ordered=ordered)
    ]


def get_many(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> dict[str, Record]:
    found: dict[str, Record] = {}
    unique = list(dict.fromkeys(ids))
    for chunk, marks in in_chunks(unique):
        for kind in KINDS:
            where = f"id IN ({marks})"
            for record in records(conn, user_id, kind, where, chunk, ordered=False):
                found.setdefault(record.id, record)
    return found


def list_memories(
    conn: sqlite3.Connection, user_id: str, kind: Kind | None, include_superseded: bool
) -> list[Record]:
    """Memories in time order; turns of equal time keep their sequence order."""
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; expected one of {KINDS}")
    result: list[Record] = []
    for each in (kind,) if kind else KINDS:
        where = "" if each != "item" or include_superseded else "status = 'active'"
        result.extend(records(conn, user_id, each, where))
    return result if kind == "turn" else codec.in_time_order(result)


def turns(conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
    """Turns in the order asked for; unknown ids are skipped."""
    found = get_many(conn, user_id, turn_ids)
    return [t for t in (found.get(i) for i in turn_ids) if isinstance(t, Turn)]


def recent_turns(conn: sqlite3.Connection, user_id: str, limit: int) -> list[Turn]:
    if limit <= 0:
        return []
    where = "id IN (SELECT id FROM turns WHERE user_id = ? ORDER BY seq DESC, id DESC LIMIT ?)"
    return [
        r for r in records(conn, user_id, "turn", where, (user_id, limit)) if isinstance(r, Turn)
    ]


def pending_turns(conn: sqlite3.Connection, user_id: str) -> list[Turn]:
    return [r for r in records(conn, user_id, "turn", "pending = 1") if isinstance(r, Turn)]


def last_scene(conn: sqlite3.Connection, user_id: str) -> Scene | None:
    where = (
        "rowid = (SELECT rowid FROM scenes WHERE user_id = ?"
        " ORDER BY time_key DESC, rowid DESC LIMIT 1)"
    )
    found = records(conn, user_id, "scene", where, (user_id,))
    return found[0] if found and isinstance(found[0], Scene) else None


def triggers_for(
    conn: sqlite3.Connection, user_id: str, trigger_ids: Sequence[str]
) -> list[Trigger]:
    """Triggers in the order asked for; unknown ids are skipped."""
    found: dict[str, Trigger] = {}
    unique = list(dict.fromkeys(trigger_ids))
    for chunk, marks in in_chunks(unique):
        for row in fetch_rows(conn, "trigger", user_id, f"id IN ({marks})", chunk):
            found[row["id"]] = codec.trigger_from_dict(user_id, row)
    return [found[i] for i in trigger_ids if i in found]


def triggers_of(conn: sqlite3.Connection, user_id: str, memory_id: str) -> list[Trigger]:
    where = "id IN (SELECT trigger_id FROM trigger_targets WHERE user_id = ? AND memory_id = ?)"
    rows = fetch_rows(conn, "trigger", user_id, where, (user_id, memory_id))
    return [codec.trigger_from_dict(user_id, row) for row in rows]


def personas(conn: sqlite3.Connection, user_id: str) -> list[PersonaProfile]:
    return [codec.persona_from_dict(user_id, row) for row in fetch_rows(conn, "persona", user_id)]


def history(conn: sqlite3.Connection, user_id: str, memory_id: str) -> list[HistoryEntry]:
    rows = fetch_rows(conn, "history", user_id, "memory_id = ?", (memory_id,))
    return [codec.history_from_dict(row) for row in rows]


def generation(conn: sqlite3.Connection, user_id: str) -> int | None:
    row = conn.execute("SELECT generation FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else int(row[0])


# --- search -------------------------------------------------------------------------------------
def search_text(
    conn: sqlite3.Connection, user_id: str, kind: Kind, query: str, limit: int
) -> list[Scored]:
    """BM25 over the user's active memories of ``kind`` (:mod:`tmem.store.sqlite_fts`).

    FTS5's corpus statistics (document count, average length, term frequencies behind the
    IDF) are not per user, so other users' text can shift scores, never results' membership.
    """
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; expected one of {KINDS}")
    return sqlite_fts.search_text(conn, user_id, kind, query, limit)


def check_query(space: str, query: Vector) -> Vector:
    if space not in SPACES:
        raise InputError(f"unknown vector space {space!r}; expected one of {SPACES}")
    vector = np.asarray(query, dtype=np.float32)
    if vector.ndim != 1 or not np.isfinite(vector).all():
        raise InputError("a query vector must be one-dimensional and finite")
    return vector


def vector_matrix(
    conn: sqlite3.Connection, cache: VectorCache, user_id: str, space: str, dim: int
) -> VectorMatrix | None:
    """The user's searchable vectors in ``space``, from the cache while the generation holds."""
    current = generation(conn, user_id)
    if current is None:
        return None
    cached = cache.get(user_id, space, dim, current)
    if cached is not None:
        return cached
    owner_table = _SPACE_OWNERS[space]
    active = " AND o.status = 'active'" if owner_table == "items" else ""
    rows = conn.execute(
        "SELECT v.owner_id, v.vector FROM vectors v WHERE v.user_id = ? AND v.space = ?"
        f" AND EXISTS (SELECT 1 FROM {owner_table} o WHERE o.user_id = v.user_id"
        f" AND o.id = v.owner_id{active}) ORDER BY v.owner_id",
        (user_id, space),
    ).fetchall()
    matrix = VectorMatrix.from_blobs(current, [(str(o), bytes(b)) for o, b in rows], dim)
    cache.put(user_id, space, dim, matrix)
    return matrix


def search_vectors(
    conn: sqlite3.Connection,
    cache: VectorCache,
    user_id: str,
    space: str,
    query: Vector,
    limit: int,
) -> list[Scored]:
    vector = check_query(space, query)
    matrix = vector_matrix(conn, cache, user_id, space, vector.shape[0])
    return [] if matrix is None else top_k(matrix, vector, limit)


# --- what a write was planned on (see tmem.store.conflict) ------------------------------------
def scene_sources(
    conn: sqlite3.Connection, user_id: str, scene_ids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Source turns of the scenes that exist among ``scene_ids``."""
    where = "id IN ({})"
    found: dict[str, tuple[str, ...]] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(scene_ids))):
        for row in fetch_rows(conn, "scene", user_id, where.format(marks), chunk, ordered=False):
            found[row["id"]] = tuple(row["source_turns"])
    return found


def scene_links(
    conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]
) -> dict[str, str | None]:
    """The scene each existing turn among ``turn_ids`` is linked to (None: no scene)."""
    found: dict[str, str | None] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(turn_ids))):
        rows = conn.execute(
            f"SELECT id, scene_id FROM turns WHERE user_id = ? AND id IN ({marks})",
            (user_id, *chunk),
        )
        found.update((str(turn_id), scene_id) for turn_id, scene_id in rows)
    return found


def forgotten(conn: sqlite3.Connection, user_id: str) -> set[str]:
    """Ids of the user's memories that were deleted (their history holds a tombstone)."""
    rows = conn.execute(
        "SELECT memory_id FROM history WHERE user_id = ? AND event = 'deleted'", (user_id,)
    )
    return {str(memory_id) for (memory_id,) in rows}
