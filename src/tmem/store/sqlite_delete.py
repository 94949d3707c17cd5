"""Deletion on SQLite: applying a :class:`~tmem.store.cascade.DeletionPlan`, erasing a user.

Erased text must not survive in the file. ``secure_delete=ON`` zero-fills freed rows; FTS5
keeps deleted terms in older index segments unless its own ``secure-delete`` option is on
(SQLite 3.44+), so older builds merge the index (``optimize``) after every erasure.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime

from tmem.errors import NotFoundError
from tmem.store.cascade import DeletionPlan, MemoryGraph, plan_deletion
from tmem.store.codec import encode_time
from tmem.store.sqlite_rows import fts_delete, in_chunks
from tmem.store.sqlite_schema import FTS5_SECURE_DELETE
from tmem.store.sqlite_write import delete_triggers, set_scene_ids

_MEMORY_TABLES = ("turns", "scenes", "items")
_USER_TABLES = (
    "turns",
    "scenes",
    "items",
    "memory_sources",
    "triggers",
    "trigger_targets",
    "vectors",
    "history",
    "personas",
    "risk_flags",
    "users",
)


def kind_of(conn: sqlite3.Connection, user_id: str, memory_id: str) -> str | None:
    """The table holding ``memory_id`` for this user, or None."""
    for table in _MEMORY_TABLES:
        found = conn.execute(
            f"SELECT 1 FROM {table} WHERE user_id = ? AND id = ?", (user_id, memory_id)
        ).fetchone()
        if found:
            return table
    return None


def load_graph(conn: sqlite3.Connection, user_id: str) -> MemoryGraph:
    sources: dict[str, list[str]] = {}
    for memory_id, turn_id in conn.execute(
        "SELECT memory_id, turn_id FROM memory_sources WHERE user_id = ?"
        " ORDER BY memory_id, position",
        (user_id,),
    ):
        sources.setdefault(memory_id, []).append(turn_id)
    scenes_of = {
        item_id: tuple(json.loads(scene_ids))
        for item_id, scene_ids in conn.execute(
            "SELECT id, scene_ids FROM items WHERE user_id = ?", (user_id,)
        )
    }
    targets: dict[str, list[str]] = {}
    for trigger_id, memory_id in conn.execute(
        "SELECT trigger_id, memory_id FROM trigger_targets WHERE user_id = ?", (user_id,)
    ):
        targets.setdefault(trigger_id, []).append(memory_id)
    return MemoryGraph(
        sources={k: tuple(v) for k, v in sources.items()},
        scenes_of=scenes_of,
        targets={k: tuple(v) for k, v in targets.items()},
    )


def delete_memory(conn: sqlite3.Connection, user_id: str, memory_id: str, at: datetime) -> int:
    """Delete ``memory_id`` and its cascade; return memories, triggers and vectors removed.

    Raises:
        NotFoundError: the user has no such memory.
    """
    if kind_of(conn, user_id, memory_id) is None:
        raise NotFoundError(f"no memory {memory_id!r} for this user")
    plan = plan_deletion(load_graph(conn, user_id), memory_id)
    removed = _apply_plan(conn, user_id, plan, at)
    compact_text_index(conn)
    return removed


REPLACED = "replaced: its turns were derived again"


def scenes_of_turns(conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]) -> set[str]:
    """The scenes that hold ``turn_ids`` now."""
    found: set[str] = set()
    for chunk, marks in in_chunks(list(turn_ids)):
        found.update(
            str(scene_id)
            for (scene_id,) in conn.execute(
                f"SELECT scene_id FROM turns WHERE user_id = ? AND id IN ({marks})"
                " AND scene_id IS NOT NULL",
                (user_id, *chunk),
            )
        )
    return found


def drop_context_vectors(conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]) -> int:
    """Delete the ``context`` vectors (a waiting turn's mark) of ``turn_ids``; return how many."""
    dropped = 0
    for chunk, marks in in_chunks(turn_ids):
        dropped += conn.execute(
            "DELETE FROM vectors WHERE user_id = ? AND space = 'context'"
            f" AND owner_id IN ({marks})",
            (user_id, *chunk),
        ).rowcount
    return dropped


def erase_emptied_scenes(
    conn: sqlite3.Connection,
    user_id: str,
    candidates: set[str],
    at: datetime,
    keep_context: Collection[str] = (),
) -> int:
    """Erase the ``candidates`` no turn links to any more; return how many went.

    A scene whose every turn a later derivation moved into new scenes (a plain scene, a scene
    whose extraction failed) would otherwise stay searchable next to its replacements. Items
    extracted only from it and triggers left without a target go with it (the
    :mod:`tmem.store.cascade` rules), and so do its turns' ``context`` vectors, which mark
    turns waiting in a plain scene, unless the same write gave a turn a new one
    (``keep_context``).
    """
    emptied = [
        scene_id
        for scene_id in sorted(candidates)
        if conn.execute(
            "SELECT 1 FROM turns WHERE user_id = ? AND scene_id = ? LIMIT 1", (user_id, scene_id)
        ).fetchone()
        is None
        and kind_of(conn, user_id, scene_id) == "scenes"
    ]
    if not emptied:
        return 0
    graph = load_graph(conn, user_id)
    gone: set[str] = set()
    for scene_id in emptied:
        moved = [t for t in graph.sources.get(scene_id, ()) if t not in keep_context]
        drop_context_vectors(conn, user_id, moved)
        if scene_id not in gone:
            plan = plan_deletion(graph, scene_id)
            _apply_plan(conn, user_id, plan, at, detail=REPLACED)
            gone.update(plan.memories)
            graph = load_graph(conn, user_id)
    compact_text_index(conn)
    return len(emptied)


def _apply_plan(
    conn: sqlite3.Connection, user_id: str, plan: DeletionPlan, at: datetime, detail: str = ""
) -> int:
    removed = len(plan.memories) + len(plan.triggers)
    for memory_id in plan.memories:
        removed += _erase_memory(conn, user_id, memory_id, at, detail)
    for owner, turns in plan.sources.items():
        conn.execute(
            "DELETE FROM memory_sources WHERE user_id = ? AND memory_id = ?", (user_id, owner)
        )
        conn.executemany(
            "INSERT INTO memory_sources (user_id, memory_id, position, turn_id)"
            " VALUES (?, ?, ?, ?)",
            [(user_id, owner, i, turn) for i, turn in enumerate(turns)],
        )
    for item_id, scenes in plan.scenes_of.items():
        set_scene_ids(conn, user_id, item_id, scenes)
    removed += delete_triggers(conn, user_id, plan.triggers)
    return removed


def _erase_memory(
    conn: sqlite3.Connection, user_id: str, memory_id: str, at: datetime, detail: str = ""
) -> int:
    """Remove one memory's rows, edges, text and vectors; leave a history tombstone."""
    for table in _MEMORY_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE user_id = ? AND id = ?", (user_id, memory_id))
    conn.execute(
        "DELETE FROM memory_sources WHERE user_id = ? AND memory_id = ?", (user_id, memory_id)
    )
    conn.execute(
        "DELETE FROM trigger_targets WHERE user_id = ? AND memory_id = ?", (user_id, memory_id)
    )
    conn.execute(
        "UPDATE turns SET scene_id = NULL WHERE user_id = ? AND scene_id = ?", (user_id, memory_id)
    )
    fts_delete(conn, user_id, [memory_id])
    conn.execute("DELETE FROM risk_flags WHERE user_id = ? AND memory_id = ?", (user_id, memory_id))
    vectors = conn.execute(
        "DELETE FROM vectors WHERE user_id = ? AND owner_id = ?", (user_id, memory_id)
    ).rowcount
    # Earlier versions hold the erased text; the tombstone keeps only the version count.
    last = conn.execute(
        "DELETE FROM history WHERE user_id = ? AND memory_id = ? RETURNING version",
        (user_id, memory_id),
    ).fetchall()
    tombstone_version = max((int(v) for (v,) in last), default=0) + 1
    conn.execute(
        "INSERT INTO history (user_id, memory_id, version, event, text, at, detail)"
        " VALUES (?, ?, ?, 'deleted', '', ?, ?)",
        (user_id, memory_id, tombstone_version, encode_time(at), detail),
    )
    return int(vectors)


def delete_user(conn: sqlite3.Connection, user_id: str) -> int:
    """Delete every row of ``user_id``, history included; return rows removed."""
    docs = [
        str(owner)
        for (owner,) in conn.execute("SELECT owner_id FROM fts_docs WHERE user_id = ?", (user_id,))
    ]
    fts_delete(conn, user_id, docs)
    removed = 0
    for table in _USER_TABLES:
        removed += conn.execute(f"DELETE FROM {table} WHERE user_id = ?", (user_id,)).rowcount
    compact_text_index(conn)
    return removed


def compact_text_index(conn: sqlite3.Connection) -> None:
    """Purge deleted terms from the FTS index when FTS5 cannot do it per row."""
    if not FTS5_SECURE_DELETE:
        conn.execute("INSERT INTO fts (fts) VALUES ('optimize')")
