"""Deletion on Postgres: the statements that erase memories, and erasing a user.

The rules are decided once, in :mod:`tmem.store.plan`, :mod:`tmem.store.policy` (forgetting)
and :mod:`tmem.store.cascade` (scenes emptied by a re-derivation), for both wings; this
module only has the SQL. Row counts follow the SQLite store's so ``delete_memory`` and
``delete_user`` return the same numbers on both. Postgres keeps deleted tuples until VACUUM
(and pgvector's HNSW graph keeps dead entries until then, too): docs/postgres.md says when to
run it after an erasure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tmem.models import Kind
from tmem.store.cascade import MemoryGraph
from tmem.store.policy import Forgetting
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.rows import split_time
from tmem.store.postgres.schema import VECTOR_TABLE
from tmem.store.postgres.write import delete_vectors

MEMORY_TABLES = ("tmem_turns", "tmem_scenes", "tmem_items")
_USER_TABLES = (
    "tmem_turns",
    "tmem_scenes",
    "tmem_items",
    "tmem_triggers",
    "tmem_trigger_targets",
    "tmem_history",
    "tmem_persona_entries",
    "tmem_instructions",
    "tmem_risk_flags",
    "tmem_jobs",
    "tmem_users",
)


_KINDS: dict[str, Kind] = {"tmem_turns": "turn", "tmem_scenes": "scene", "tmem_items": "item"}


def kind_of(cursor: Cursor, user_id: str, memory_id: str) -> Kind | None:
    """The kind of the user's memory ``memory_id``, or None."""
    for table in MEMORY_TABLES:
        cursor.execute(
            f"SELECT 1 FROM {table} WHERE user_id = %s AND id = %s", (user_id, memory_id)
        )
        if cursor.fetchone():
            return _KINDS[table]
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


def scene_ids(cursor: Cursor, user_id: str) -> set[str]:
    cursor.execute("SELECT id FROM tmem_scenes WHERE user_id = %s", (user_id,))
    return {str(scene_id) for (scene_id,) in cursor.fetchall()}


def erase_forgotten(cursor: Cursor, user_id: str, plan: Forgetting, at: datetime) -> int:
    """:func:`erase_memory` for every memory of ``plan``; return the vectors removed."""
    return sum(
        erase_memory(cursor, user_id, erased, at, plan.tombstone(erased))
        for erased in plan.memories
    )


def mark_waiting(cursor: Cursor, user_id: str, turn_ids: Sequence[str]) -> None:
    """Mark ``turn_ids`` pending and out of any scene."""
    cursor.execute(
        "UPDATE tmem_turns SET pending = true, scene_id = NULL WHERE user_id = %s AND id = ANY(%s)",
        (user_id, list(turn_ids)),
    )


def erase_persona_entry(
    cursor: Cursor, user_id: str, entry_id: str, at: datetime, detail: str
) -> None:
    """Remove one persona entry and its history's text; leave a tombstone with ``detail``."""
    cursor.execute(
        "DELETE FROM tmem_persona_entries WHERE user_id = %s AND id = %s", (user_id, entry_id)
    )
    _tombstone(cursor, user_id, entry_id, at, detail)


def erase_model_text(cursor: Cursor, user_id: str, entry_id: str, detail: str) -> None:
    """Empty the text of an entry's history versions a model wrote; their detail says why."""
    cursor.execute(
        "UPDATE tmem_history SET text = '', detail = %s WHERE user_id = %s AND memory_id = %s"
        " AND detail = 'model'",
        (detail, user_id, entry_id),
    )


def scrub_finished_jobs(cursor: Cursor, user_id: str) -> int:
    """Empty the payloads of the user's finished jobs (they may quote erased messages)."""
    cursor.execute(
        "UPDATE tmem_jobs SET payload = '{}'::jsonb WHERE user_id = %s"
        " AND status IN ('done', 'failed') AND payload <> '{}'::jsonb",
        (user_id,),
    )
    return cursor.rowcount


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


def scene_has_turns(cursor: Cursor, user_id: str, scene_id: str) -> bool:
    cursor.execute(
        "SELECT 1 FROM tmem_turns WHERE user_id = %s AND scene_id = %s LIMIT 1",
        (user_id, scene_id),
    )
    return cursor.fetchone() is not None


def set_sources(cursor: Cursor, user_id: str, memory_id: str, turn_ids: Sequence[str]) -> None:
    for table in ("tmem_scenes", "tmem_items"):
        cursor.execute(
            f"UPDATE {table} SET source_turns = %s WHERE user_id = %s AND id = %s",
            (list(turn_ids), user_id, memory_id),
        )


def set_scene_ids(cursor: Cursor, user_id: str, item_id: str, scene_ids: Sequence[str]) -> None:
    cursor.execute(
        "UPDATE tmem_items SET scene_ids = %s WHERE user_id = %s AND id = %s",
        (list(scene_ids), user_id, item_id),
    )


def erase_memory(
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
    # A supersession's reason (written by the model) may quote the erased fact.
    cursor.execute(
        "UPDATE tmem_history SET detail = %s WHERE user_id = %s AND event = 'superseded'"
        " AND (detail = %s OR starts_with(detail, %s))",
        (memory_id, user_id, memory_id, memory_id + ": "),
    )
    vectors = delete_vectors(cursor, user_id, [memory_id])
    cursor.execute(
        "DELETE FROM tmem_risk_flags WHERE user_id = %s AND memory_id = %s", (user_id, memory_id)
    )
    _tombstone(cursor, user_id, memory_id, at, detail)
    return vectors


def _tombstone(cursor: Cursor, user_id: str, memory_id: str, at: datetime, detail: str) -> None:
    """Replace ``memory_id``'s history by a tombstone (its earlier versions hold the erased
    text; the tombstone keeps only the version count)."""
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
