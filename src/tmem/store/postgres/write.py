"""The Postgres statements that write rows, inside an open transaction.

Which rows a batch writes, and in what order, is :mod:`tmem.store.plan`'s, so both wings keep
the same history, versions and trigger edges.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from tmem.models import HistoryEvent, Item, PersonaEntry, Scene, Trigger, Turn
from tmem.store.base import Supersession, VectorRow, WriteBatch
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.rows import (
    item_params,
    persona_params,
    scene_params,
    split_time,
    turn_params,
    vector_literal,
)
from tmem.store.postgres.schema import VECTOR_TABLE
from tmem.store.vectors import checked_vector


def lock_key(user_id: str) -> int:
    """A signed 64-bit advisory-lock key for ``user_id``, the same in every process.

    Two users may share a key (2^-64 per pair); they then merely wait for each other.
    """
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=8, person=b"tmem-user")
    return int.from_bytes(digest.digest(), "big", signed=True)


def lock_user(cursor: Cursor, user_id: str) -> None:
    """Hold ``user_id``'s write lock until the transaction ends.

    Every write of a user's rows takes it first, so a batch's basis (next ``seq``, the scenes
    it extends) is checked and applied with no other writer in between, on any number of
    processes or machines sharing the database (issue 12). Reads never take it.
    """
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (lock_key(user_id),))


def touch_user(cursor: Cursor, user_id: str) -> None:
    cursor.execute(
        "INSERT INTO tmem_users (user_id) VALUES (%s) ON CONFLICT (user_id) DO NOTHING", (user_id,)
    )


def put_turn(
    cursor: Cursor,
    user_id: str,
    turn: Turn,
    scene_id: str | None = None,
    pending: bool = False,
    *,
    replace_links: bool = False,
) -> None:
    """Upsert a turn; a re-sent turn keeps its scene link and pending mark unless replaced."""
    params = {**turn_params(turn, user_id), "scene_id": scene_id, "pending": pending}
    links = ", scene_id = excluded.scene_id, pending = excluded.pending" if replace_links else ""
    cursor.execute(
        "INSERT INTO tmem_turns (user_id, id, session_id, seq, speaker, content, ts, ts_offset,"
        " scene_id, pending) VALUES (%(user_id)s, %(id)s, %(session_id)s, %(seq)s, %(speaker)s,"
        " %(content)s, %(ts)s, %(ts_offset)s, %(scene_id)s, %(pending)s)"
        " ON CONFLICT (user_id, id) DO UPDATE SET session_id = excluded.session_id,"
        " seq = excluded.seq, speaker = excluded.speaker, content = excluded.content,"
        f" ts = excluded.ts, ts_offset = excluded.ts_offset{links}",
        params,
    )
    cursor.execute(
        "UPDATE tmem_users SET next_seq = greatest(next_seq, %s) WHERE user_id = %s",
        (turn.seq + 1, user_id),
    )


_SCENE_UPSERT = """
INSERT INTO tmem_scenes (user_id, id, title, summary, narrative, ts, ts_offset, source_turns,
    session_ids, participants, method, model, version, ord)
VALUES (%(user_id)s, %(id)s, %(title)s, %(summary)s, %(narrative)s, %(ts)s, %(ts_offset)s,
    %(source_turns)s, %(session_ids)s, %(participants)s, %(method)s, %(model)s, %(version)s,
    nextval('tmem_ord'))
ON CONFLICT (user_id, id) DO UPDATE SET title = excluded.title, summary = excluded.summary,
    narrative = excluded.narrative, ts = excluded.ts, ts_offset = excluded.ts_offset,
    source_turns = excluded.source_turns, session_ids = excluded.session_ids,
    participants = excluded.participants, method = excluded.method, model = excluded.model,
    version = excluded.version
"""

_ITEM_UPSERT = """
INSERT INTO tmem_items (user_id, id, content, ts, ts_offset, scene_ids, source_turns, temporal,
    spatial, keywords, query_patterns, status, superseded_by, method, model, version, ord,
    search_text)
VALUES (%(user_id)s, %(id)s, %(content)s, %(ts)s, %(ts_offset)s, %(scene_ids)s,
    %(source_turns)s, %(temporal)s, %(spatial)s, %(keywords)s, %(query_patterns)s, %(status)s,
    %(superseded_by)s, %(method)s, %(model)s, %(version)s, nextval('tmem_ord'), %(search_text)s)
ON CONFLICT (user_id, id) DO UPDATE SET content = excluded.content, ts = excluded.ts,
    ts_offset = excluded.ts_offset, scene_ids = excluded.scene_ids,
    source_turns = excluded.source_turns, temporal = excluded.temporal,
    spatial = excluded.spatial, keywords = excluded.keywords,
    query_patterns = excluded.query_patterns, status = excluded.status,
    superseded_by = excluded.superseded_by, method = excluded.method, model = excluded.model,
    version = excluded.version, search_text = excluded.search_text
"""


def put_memory(cursor: Cursor, user_id: str, memory: Scene | Item, version: int) -> None:
    if isinstance(memory, Scene):
        cursor.execute(_SCENE_UPSERT, {**scene_params(memory, user_id), "version": version})
    else:
        cursor.execute(_ITEM_UPSERT, {**item_params(memory, user_id), "version": version})


def indexed_text(cursor: Cursor, user_id: str, memory: Scene | Item) -> str | None:
    """The text full-text search indexes for the stored ``memory`` (None: not stored)."""
    if isinstance(memory, Scene):
        sql = "SELECT title || E'\\n' || summary || E'\\n' || narrative FROM tmem_scenes"
    else:
        sql = "SELECT search_text FROM tmem_items"
    cursor.execute(f"{sql} WHERE user_id = %s AND id = %s", (user_id, memory.id))
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def memory_version(cursor: Cursor, user_id: str, memory: Scene | Item) -> int | None:
    """The stored version of ``memory`` (None: not stored yet)."""
    table = "tmem_scenes" if isinstance(memory, Scene) else "tmem_items"
    cursor.execute(
        f"SELECT version FROM {table} WHERE user_id = %s AND id = %s", (user_id, memory.id)
    )
    existing = cursor.fetchone()
    return None if existing is None else int(existing[0])


def add_history(
    cursor: Cursor,
    user_id: str,
    memory_id: str,
    event: HistoryEvent,
    text: str,
    at: datetime,
    detail: str = "",
) -> int:
    """Append one history entry and return its version (one more than the last)."""
    instant, offset = split_time(at)
    cursor.execute(
        "INSERT INTO tmem_history (user_id, memory_id, version, event, text, at, at_offset,"
        " detail) SELECT %(user)s, %(memory)s, coalesce(max(version), 0) + 1, %(event)s,"
        " %(text)s, %(at)s, %(offset)s, %(detail)s FROM tmem_history"
        " WHERE user_id = %(user)s AND memory_id = %(memory)s RETURNING version",
        {
            "user": user_id,
            "memory": memory_id,
            "event": event,
            "text": text,
            "at": instant,
            "offset": offset,
            "detail": detail,
        },
    )
    row = cursor.fetchone()
    assert row is not None  # INSERT ... RETURNING of an aggregate always yields one row
    return int(row[0])


def put_trigger(cursor: Cursor, user_id: str, trigger: Trigger) -> None:
    cursor.execute(
        "INSERT INTO tmem_triggers (user_id, id, family, facet, text, method, model)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id, id) DO UPDATE SET family = excluded.family,"
        " facet = excluded.facet, text = excluded.text, method = excluded.method,"
        " model = excluded.model",
        (
            user_id,
            trigger.id,
            trigger.family,
            trigger.facet,
            trigger.text,
            trigger.provenance.method,
            trigger.provenance.model,
        ),
    )
    cursor.execute(
        "DELETE FROM tmem_trigger_targets WHERE user_id = %s AND trigger_id = %s",
        (user_id, trigger.id),
    )
    cursor.executemany(
        "INSERT INTO tmem_trigger_targets (user_id, trigger_id, position, memory_id, confidence)"
        " VALUES (%s, %s, %s, %s, %s)",
        [
            (user_id, trigger.id, i, target, float(conf))
            for i, (target, conf) in enumerate(trigger.targets)
        ],
    )


_PERSONA_UPSERT = """
INSERT INTO tmem_persona_entries (user_id, id, speaker, section, key, value, source_turns,
    pinned, origin, created_at, created_at_offset, updated_at, updated_at_offset, position)
VALUES (%(user_id)s, %(id)s, %(speaker)s, %(section)s, %(key)s, %(value)s, %(source_turns)s,
    %(pinned)s, %(origin)s, %(created_at)s, %(created_at_offset)s, %(updated_at)s,
    %(updated_at_offset)s, %(position)s)
ON CONFLICT (user_id, id) DO UPDATE SET speaker = excluded.speaker, section = excluded.section,
    key = excluded.key, value = excluded.value, source_turns = excluded.source_turns,
    pinned = excluded.pinned, origin = excluded.origin, created_at = excluded.created_at,
    created_at_offset = excluded.created_at_offset, updated_at = excluded.updated_at,
    updated_at_offset = excluded.updated_at_offset, position = excluded.position
"""


def put_persona_entry(cursor: Cursor, user_id: str, entry: PersonaEntry) -> None:
    cursor.execute(_PERSONA_UPSERT, persona_params(entry, user_id))


def put_instructions(cursor: Cursor, user_id: str, text: str, at: datetime) -> None:
    """Store the user's extraction instructions; ``""`` deletes them."""
    if not text:
        cursor.execute("DELETE FROM tmem_instructions WHERE user_id = %s", (user_id,))
        return
    instant, offset = split_time(at)
    cursor.execute(
        "INSERT INTO tmem_instructions (user_id, text, updated_at, updated_at_offset)"
        " VALUES (%s, %s, %s, %s) ON CONFLICT (user_id) DO UPDATE SET text = excluded.text,"
        " updated_at = excluded.updated_at, updated_at_offset = excluded.updated_at_offset",
        (user_id, text, instant, offset),
    )


def checked_literal(row: VectorRow, dim: int | None) -> str:
    """``row``'s vector in pgvector text form, after :func:`~tmem.store.vectors.checked_vector`."""
    return vector_literal(checked_vector(row, dim))


def put_vectors(cursor: Cursor, user_id: str, rows: Sequence[VectorRow], dim: int | None) -> None:
    """Upsert vectors; the caller made sure the vector table exists if ``rows`` is not empty."""
    params = [(user_id, row.space, row.owner_id, checked_literal(row, dim)) for row in rows]
    cursor.executemany(
        f"INSERT INTO {VECTOR_TABLE} (user_id, space, owner_id, embedding)"
        " VALUES (%s, %s, %s, %s::vector) ON CONFLICT (user_id, space, owner_id)"
        " DO UPDATE SET embedding = excluded.embedding",
        params,
    )


def drop_targets(cursor: Cursor, user_id: str, memory_ids: Sequence[str]) -> int:
    """Remove trigger edges to ``memory_ids``; delete triggers left with none. Return deleted."""
    if not memory_ids:
        return 0
    cursor.execute(
        "DELETE FROM tmem_trigger_targets WHERE user_id = %s AND memory_id = ANY(%s)"
        " RETURNING trigger_id",
        (user_id, list(memory_ids)),
    )
    touched = sorted({str(trigger_id) for (trigger_id,) in cursor.fetchall()})
    cursor.execute(
        "SELECT id FROM tmem_triggers t WHERE user_id = %s AND id = ANY(%s) AND NOT EXISTS"
        " (SELECT 1 FROM tmem_trigger_targets x WHERE x.user_id = t.user_id"
        " AND x.trigger_id = t.id) ORDER BY id",
        (user_id, touched),
    )
    orphans = [str(trigger_id) for (trigger_id,) in cursor.fetchall()]
    delete_triggers(cursor, user_id, orphans)
    return len(orphans)


def delete_triggers(cursor: Cursor, user_id: str, trigger_ids: Sequence[str]) -> int:
    """Delete triggers with their edges and vectors; return vectors removed."""
    if not trigger_ids:
        return 0
    cursor.execute(
        "DELETE FROM tmem_triggers WHERE user_id = %s AND id = ANY(%s)",
        (user_id, list(trigger_ids)),
    )
    return delete_vectors(cursor, user_id, trigger_ids)


def delete_vectors(
    cursor: Cursor, user_id: str, owner_ids: Sequence[str], spaces: Sequence[str] | None = None
) -> int:
    """Delete the vectors of ``owner_ids`` (only in ``spaces`` when given); return how many."""
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_TABLE,))
    row = cursor.fetchone()
    if not owner_ids or row is None or not row[0] or (spaces is not None and not spaces):
        return 0
    in_spaces = "" if spaces is None else " AND space = ANY(%s)"
    params = (user_id, list(owner_ids)) + (() if spaces is None else (list(spaces),))
    cursor.execute(
        f"DELETE FROM {VECTOR_TABLE} WHERE user_id = %s AND owner_id = ANY(%s){in_spaces}",
        params,
    )
    return cursor.rowcount


def item_content(cursor: Cursor, user_id: str, item_id: str) -> str | None:
    cursor.execute(
        "SELECT content FROM tmem_items WHERE user_id = %s AND id = %s", (user_id, item_id)
    )
    row = cursor.fetchone()
    return None if row is None else str(row[0])


def mark_superseded(cursor: Cursor, user_id: str, change: Supersession, version: int) -> None:
    cursor.execute(
        "UPDATE tmem_items SET status = 'superseded', superseded_by = %s, version = %s"
        " WHERE user_id = %s AND id = %s",
        (change.new_id, version, user_id, change.old_id),
    )


def link_turns(cursor: Cursor, batch: WriteBatch) -> None:
    user_id = batch.user_id
    cursor.executemany(
        "UPDATE tmem_turns SET scene_id = %s WHERE user_id = %s AND id = %s",
        [(scene_id, user_id, turn_id) for turn_id, scene_id in batch.scene_of_turn],
    )
    for ids, flag in ((batch.pending_turns, True), (batch.done_turns, False)):
        cursor.executemany(
            "UPDATE tmem_turns SET pending = %s WHERE user_id = %s AND id = %s",
            [(flag, user_id, turn_id) for turn_id in ids],
        )
