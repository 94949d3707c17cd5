"""Deletion on Postgres: applying a :class:`~tmem.store.policy.Forgetting`, erasing a user.

The rules are computed once, in :mod:`tmem.store.policy` (forgetting) and
:mod:`tmem.store.cascade` (scenes emptied by a re-derivation), for both backends; this
module only applies them. Row counts follow the SQLite store's so ``delete_memory`` and
``delete_user`` return the same numbers on both. Postgres keeps deleted tuples until VACUUM
(and pgvector's HNSW graph keeps dead entries until then, too): docs/postgres.md says when to
run it after an erasure.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from tmem.errors import NotFoundError
from tmem.models import Kind
from tmem.persona.merge import forget_turns, is_empty
from tmem.store.base import VectorRow
from tmem.store.cascade import DeletionPlan, MemoryGraph, plan_deletion
from tmem.store.policy import Derivations, Forgetting, plan_forget
from tmem.store.postgres_pool import Cursor
from tmem.store.postgres_read import personas
from tmem.store.postgres_rows import split_time
from tmem.store.postgres_schema import VECTOR_TABLE
from tmem.store.postgres_write import delete_triggers, delete_vectors, put_persona, put_vectors

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


_KINDS: dict[str, Kind] = {"tmem_turns": "turn", "tmem_scenes": "scene", "tmem_items": "item"}


def load_derivations(cursor: Cursor, user_id: str) -> Derivations:
    """What the user's scenes, items and triggers rest on (:mod:`tmem.store.policy`)."""
    graph = load_graph(cursor, user_id)
    cursor.execute("SELECT id FROM tmem_scenes WHERE user_id = %s", (user_id,))
    scene_ids = {str(scene_id) for (scene_id,) in cursor.fetchall()}
    return Derivations(
        scenes={s: graph.sources.get(s, ()) for s in scene_ids},
        items={i: graph.sources.get(i, ()) for i in graph.scenes_of},
        item_scenes=graph.scenes_of,
        triggers=graph.targets,
    )


def plan_forget_of(cursor: Cursor, user_id: str, memory_id: str) -> Forgetting:
    """The policy's plan for forgetting ``memory_id``.

    Raises:
        NotFoundError: the user has no such memory.
    """
    table = kind_of(cursor, user_id, memory_id)
    if table is None:
        raise NotFoundError(f"no memory {memory_id!r} for this user")
    return plan_forget(load_derivations(cursor, user_id), memory_id, _KINDS[table])


def delete_memory(
    cursor: Cursor,
    user_id: str,
    memory_id: str,
    at: datetime,
    context: Sequence[VectorRow] = (),
    dim: int | None = None,
) -> int:
    """Forget ``memory_id`` by the policy; return memories, triggers and vectors removed.

    Same contract as :func:`tmem.store.sqlite_delete.delete_memory`.

    Raises:
        NotFoundError: the user has no such memory.
    """
    plan = plan_forget_of(cursor, user_id, memory_id)
    removed = len(plan.memories) + len(plan.triggers)
    for erased in plan.memories:
        removed += _erase_memory(cursor, user_id, erased, at, plan.tombstone(erased))
    removed += delete_triggers(cursor, user_id, plan.triggers)
    _send_back_to_waiting(cursor, user_id, plan.waiting, context, dim)
    _forget_persona_entries(cursor, user_id, {*plan.turns, *plan.waiting})
    scrub_finished_jobs(cursor, user_id)
    return removed


def _send_back_to_waiting(
    cursor: Cursor,
    user_id: str,
    turn_ids: Sequence[str],
    context: Sequence[VectorRow],
    dim: int | None,
) -> None:
    """Mark ``turn_ids`` pending, out of any scene, with only the fresh ``context`` vectors."""
    if not turn_ids:
        return
    cursor.execute(
        "UPDATE tmem_turns SET pending = true, scene_id = NULL WHERE user_id = %s AND id = ANY(%s)",
        (user_id, list(turn_ids)),
    )
    # Old context vectors embedded the erased neighbour's words too.
    delete_vectors(cursor, user_id, list(turn_ids), ["context"])
    waiting = set(turn_ids)
    fresh = [row for row in context if row.space == "context" and row.owner_id in waiting]
    if fresh and dim is not None:
        put_vectors(cursor, user_id, fresh, dim)


def _forget_persona_entries(cursor: Cursor, user_id: str, gone: set[str]) -> None:
    """Remove persona entries stated in erased or waiting turns (re-derivation restates them)."""
    for profile in personas(cursor, user_id):
        kept = forget_turns(profile, gone)
        if kept is profile:
            continue
        if is_empty(kept):
            cursor.execute(
                "DELETE FROM tmem_personas WHERE user_id = %s AND speaker = %s",
                (user_id, kept.speaker),
            )
        else:
            put_persona(cursor, user_id, kept)


def scrub_finished_jobs(cursor: Cursor, user_id: str) -> int:
    """Empty the payloads of the user's finished jobs (they may quote erased messages)."""
    cursor.execute(
        "UPDATE tmem_jobs SET payload = '{}'::jsonb WHERE user_id = %s"
        " AND status IN ('done', 'failed') AND payload <> '{}'::jsonb",
        (user_id,),
    )
    return cursor.rowcount


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
