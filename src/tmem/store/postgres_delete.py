"""Deletion on Postgres: applying a :class:`~tmem.store.cascade.DeletionPlan`, erasing a user.

The cascade rules are computed once, in :mod:`tmem.store.cascade`, for both backends; this
module only applies them. Row counts follow the SQLite store's so ``delete_memory`` and
``delete_user`` return the same numbers on both. Postgres keeps deleted tuples until VACUUM
(and pgvector's HNSW graph keeps dead entries until then, too): docs/postgres.md says when to
run it after an erasure.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from tmem.errors import NotFoundError
from tmem.store.cascade import DeletionPlan, MemoryGraph, plan_deletion
from tmem.store.postgres_pool import Cursor
from tmem.store.postgres_rows import split_time
from tmem.store.postgres_schema import VECTOR_TABLE
from tmem.store.postgres_write import delete_triggers, delete_vectors

MEMORY_TABLES = ("tmem_turns", "tmem_scenes", "tmem_items")
_USER_TABLES = (
    "tmem_turns",
    "tmem_scenes",
    "tmem_items",
    "tmem_triggers",
    "tmem_trigger_targets",
    "tmem_history",
    "tmem_personas",
    "tmem_risk_flags",
    "tmem_jobs",
    "tmem_users",
)


def kind_of(cursor: Cursor, user_id: str, memory_id: str) -> str | None:
    """The table holding ``memory_id`` for this user, or None."""
    for table in MEMORY_TABLES:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE user_id = %s AND id = %s", (user_id, memory_id)
        )
        if cursor.fetchone():
            return table
    return None


def load_graph(cursor: Cursor, user_id: str) -> MemoryGraph:
    cursor.execute(
        "SELECT id, source_turns FROM tmem_scenes WHERE user_id = %(u)s"
        " UNION ALL SELECT id, source_turns FROM tmem_items WHERE user_id = %(u)s",
        {"u": user_id},
    )
    sources = {str(memory_id): tuple(turns) for memory_id, turns in cursor.fetchall()}
    cursor.execute("SELECT id, scene_ids FROM tmem_items WHERE user_id = %s", (user_id,))
    scenes_of = {str(item_id): tuple(scenes) for item_id, scenes in cursor.fetchall()}
    cursor.execute(
        "SELECT trigger_id, array_agg(memory_id ORDER BY position) FROM tmem_trigger_targets"
        " WHERE user_id = %s GROUP BY trigger_id",
        (user_id,),
    )
    targets = {str(trigger_id): tuple(memories) for trigger_id, memories in cursor.fetchall()}
    return MemoryGraph(sources=sources, scenes_of=scenes_of, targets=targets)


def delete_memory(cursor: Cursor, user_id: str, memory_id: str, at: datetime) -> int:
    """Delete ``memory_id`` and its cascade; return memories, triggers and vectors removed.

    Raises:
        NotFoundError: the user has no such memory.
    """
    if kind_of(cursor, user_id, memory_id) is None:
        raise NotFoundError(f"no memory {memory_id!r} for this user")
    plan = plan_deletion(load_graph(cursor, user_id), memory_id)
    return _apply_plan(cursor, user_id, plan, at)


REPLACED = "replaced: its turns were derived again"


def scenes_of_turns(cursor: Cursor, user_id: str, turn_ids: Sequence[str]) -> set[str]:
    """The scenes that hold ``turn_ids`` now."""
    if not turn_ids:
        return set()
    cursor.execute(
        "SELECT DISTINCT scene_id FROM tmem_turns WHERE user_id = %s AND id = ANY(%s)"
        " AND scene_id IS NOT NULL",
        (user_id, list(turn_ids)),
    )
    return {str(scene_id) for (scene_id,) in cursor.fetchall()}


def erase_emptied_scenes(
    cursor: Cursor,
    user_id: str,
    candidates: set[str],
    at: datetime,
    keep_context: Collection[str] = (),
) -> int:
    """Erase the ``candidates`` no turn links to any more; return how many went.

    Same contract as :func:`tmem.store.sqlite_delete.erase_emptied_scenes`.
    """
    emptied = []
    for scene_id in sorted(candidates):
        cursor.execute(
            "SELECT 1 FROM tmem_turns WHERE user_id = %s AND scene_id = %s LIMIT 1",
            (user_id, scene_id),
        )
        if cursor.fetchone() is None and kind_of(cursor, user_id, scene_id) == "tmem_scenes":
            emptied.append(scene_id)
    gone: set[str] = set()
    for scene_id in emptied:
        graph = load_graph(cursor, user_id)
        moved = [t for t in graph.sources.get(scene_id, ()) if t not in keep_context]
        delete_vectors(cursor, user_id, moved, ["context"])
        if scene_id not in gone:
            plan = plan_deletion(graph, scene_id)
            _apply_plan(cursor, user_id, plan, at, detail=REPLACED)
            gone.update(plan.memories)
    return len(emptied)


def _apply_plan(
    cursor: Cursor, user_id: str, plan: DeletionPlan, at: datetime, detail: str = ""
) -> int:
    removed = len(plan.memories) + len(plan.triggers)
    for memory_id in plan.memories:
        removed += _erase_memory(cursor, user_id, memory_id, at, detail)
    for owner, turns in plan.sources.items():
        for table in ("tmem_scenes", "tmem_items"):
            cursor.execute(
                f"UPDATE {table} SET source_turns = %s WHERE user_id = %s AND id = %s",
                (list(turns), user_id, owner),
            )
    for item_id, scenes in plan.scenes_of.items():
        cursor.execute(
            "UPDATE tmem_items SET scene_ids = %s WHERE user_id = %s AND id = %s",
            (list(scenes), user_id, item_id),
        )
    removed += delete_triggers(cursor, user_id, plan.triggers)
    return removed


def _erase_memory(
    cursor: Cursor, user_id: str, memory_id: str, at: datetime, detail: str = ""
) -> int:
    """Remove one memory's rows, edges and vectors; leave a history tombstone."""
    for table in MEMORY_TABLES:
        cursor.execute(f"DELETE FROM {table} WHERE user_id = %s AND id = %s", (user_id, memory_id))
    cursor.execute(
        "DELETE FROM tmem_trigger_targets WHERE user_id = %s AND memory_id = %s",
        (user_id, memory_id),
    )
    cursor.execute(
        "UPDATE tmem_turns SET scene_id = NULL WHERE user_id = %s AND scene_id = %s",
        (user_id, memory_id),
    )
    vectors = delete_vectors(cursor, user_id, [memory_id])
    cursor.execute(
        "DELETE FROM tmem_risk_flags WHERE user_id = %s AND memory_id = %s", (user_id, memory_id)
    )
    # Earlier versions hold the erased text; the tombstone keeps only the version count.
    cursor.execute(
        "DELETE FROM tmem_history WHERE user_id = %s AND memory_id = %s RETURNING version",
        (user_id, memory_id),
    )
    tombstone_version = max((int(v) for (v,) in cursor.fetchall()), default=0) + 1
    instant, offset = split_time(at)
    cursor.execute(
        "INSERT INTO tmem_history (user_id, memory_id, version, event, text, at, at_offset,"
        " detail) VALUES (%s, %s, %s, 'deleted', '', %s, %s, %s)",
        (user_id, memory_id, tombstone_version, instant, offset, detail),
    )
    return vectors


def delete_user(cursor: Cursor, user_id: str, has_vectors: bool) -> int:
    """Delete every row of ``user_id``, history and queued jobs included; return rows removed."""
    # SQLite keeps source turns as rows of their own and counts them, while trigger edges go
    # uncounted with their triggers (ON DELETE CASCADE); count ours the same way.
    cursor.execute(
        "SELECT coalesce(sum(cardinality(source_turns)), 0) FROM (SELECT source_turns FROM"
        " tmem_scenes WHERE user_id = %(u)s UNION ALL SELECT source_turns FROM tmem_items"
        " WHERE user_id = %(u)s) AS memories",
        {"u": user_id},
    )
    row = cursor.fetchone()
    removed = int(row[0]) if row else 0
    tables: Sequence[str] = (*_USER_TABLES, VECTOR_TABLE) if has_vectors else _USER_TABLES
    for table in tables:
        cursor.execute(f"DELETE FROM {table} WHERE user_id = %s", (user_id,))
        removed += cursor.rowcount
    return removed
