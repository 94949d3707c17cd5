"""Deletion on SQLite: the statements that erase memories, and erasing a user.

What a deletion takes along is :mod:`tmem.store.plan`'s and :mod:`tmem.store.policy`'s.

Erased text must not survive in the file. ``secure_delete=ON`` zero-fills freed rows; FTS5
keeps deleted terms in older index segments unless its own ``secure-delete`` option is on
(SQLite 3.44+), so older builds merge the user's shard of the index (``optimize``) after every
erasure. The store
checkpoints the WAL after the commit (:meth:`tmem.store.sqlite.SQLiteStore.delete_memory`),
so the erased text leaves the WAL file too.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from tmem.models import Kind
from tmem.store.cascade import MemoryGraph
from tmem.store.codec import encode_time
from tmem.store.policy import Forgetting
from tmem.store.sqlite.rows import fts_delete, in_chunks
from tmem.store.sqlite.schema import FTS5_SECURE_DELETE, fts_table

_MEMORY_TABLES = ("turns", "scenes", "items")
_USER_TABLES = (
    "fts_lengths",
    "turns",
    "scenes",
    "items",
    "memory_sources",
    "triggers",
    "trigger_targets",
    "vectors",
    "history",
    "persona_entries",
    "instructions",
    "risk_flags",
    "users",
)


_KINDS: dict[str, Kind] = {"turns": "turn", "scenes": "scene", "items": "item"}


def kind_of(conn: sqlite3.Connection, user_id: str, memory_id: str) -> Kind | None:
    """The kind of the user's memory ``memory_id``, or None."""
    for table in _MEMORY_TABLES:
        found = conn.execute(
            f"SELECT 1 FROM {table} WHERE user_id = ? AND id = ?", (user_id, memory_id)
        ).fetchone()
        if found:
            return _KINDS[table]
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


def scene_ids(conn: sqlite3.Connection, user_id: str) -> set[str]:
    rows = conn.execute("SELECT id FROM scenes WHERE user_id = ?", (user_id,))
    return {str(scene_id) for (scene_id,) in rows}


def erase_forgotten(conn: sqlite3.Connection, user_id: str, plan: Forgetting, at: datetime) -> int:
    """:func:`erase_memory` for every memory of ``plan``, a few statements per table."""
    ids = list(plan.memories)
    for table, owned in (("turns", plan.turns), ("scenes", plan.scenes), ("items", plan.items)):
        _delete_in(conn, f"DELETE FROM {table} WHERE user_id = ? AND id IN", user_id, owned)
    _delete_in(conn, "DELETE FROM memory_sources WHERE user_id = ? AND memory_id IN", user_id, ids)
    _delete_in(conn, "DELETE FROM trigger_targets WHERE user_id = ? AND memory_id IN", user_id, ids)
    _delete_in(
        conn,
        "UPDATE turns SET scene_id = NULL WHERE user_id = ? AND scene_id IN",
        user_id,
        plan.scenes,
    )
    _scrub_supersession_reasons(conn, user_id, set(plan.items))
    fts_delete(conn, user_id, ids)
    _delete_in(conn, "DELETE FROM risk_flags WHERE user_id = ? AND memory_id IN", user_id, ids)
    vectors = _delete_in(
        conn, "DELETE FROM vectors WHERE user_id = ? AND owner_id IN", user_id, ids
    )
    # Earlier versions hold the erased text; the tombstone keeps only the version count.
    versions: dict[str, int] = dict.fromkeys(ids, 0)
    for chunk, marks in in_chunks(ids):
        for erased, version in conn.execute(
            f"DELETE FROM history WHERE user_id = ? AND memory_id IN ({marks})"
            " RETURNING memory_id, version",
            (user_id, *chunk),
        ).fetchall():
            versions[str(erased)] = max(versions[str(erased)], int(version))
    conn.executemany(
        "INSERT INTO history (user_id, memory_id, version, event, text, at, detail)"
        " VALUES (?, ?, ?, 'deleted', '', ?, ?)",
        [
            (user_id, erased, versions[erased] + 1, encode_time(at), plan.tombstone(erased))
            for erased in ids
        ],
    )
    return vectors


def _delete_in(conn: sqlite3.Connection, statement: str, user_id: str, ids: Sequence[str]) -> int:
    """Run ``statement`` (ending in ``IN``) for ``ids`` in chunks; return rows changed."""
    changed = 0
    for chunk, marks in in_chunks(list(ids)):
        changed += conn.execute(f"{statement} ({marks})", (user_id, *chunk)).rowcount
    return changed


def delete_triggers(conn: sqlite3.Connection, user_id: str, trigger_ids: Sequence[str]) -> int:
    """Delete triggers (their edges go by foreign key) and their vectors; return vectors."""
    _delete_in(conn, "DELETE FROM triggers WHERE user_id = ? AND id IN", user_id, trigger_ids)
    return _delete_in(
        conn, "DELETE FROM vectors WHERE user_id = ? AND owner_id IN", user_id, trigger_ids
    )


def _scrub_supersession_reasons(conn: sqlite3.Connection, user_id: str, items: set[str]) -> None:
    """A supersession's reason (written by the model) may quote an erased item: keep its id."""
    if not items:
        return
    rows = conn.execute(
        "SELECT memory_id, version, detail FROM history WHERE user_id = ? AND event = 'superseded'",
        (user_id,),
    ).fetchall()
    for memory_id, version, detail in rows:
        named = str(detail).split(": ", 1)[0]
        if named in items and detail != named:
            conn.execute(
                "UPDATE history SET detail = ? WHERE user_id = ? AND memory_id = ? AND version = ?",
                (named, user_id, memory_id, version),
            )


def mark_waiting(conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]) -> None:
    """Mark ``turn_ids`` pending and out of any scene."""
    for chunk, marks in in_chunks(list(turn_ids)):
        conn.execute(
            f"UPDATE turns SET pending = 1, scene_id = NULL WHERE user_id = ? AND id IN ({marks})",
            (user_id, *chunk),
        )


def erase_persona_entry(
    conn: sqlite3.Connection, user_id: str, entry_id: str, at: datetime, detail: str
) -> None:
    """Remove one persona entry and its history's text; leave a tombstone with ``detail``."""
    conn.execute("DELETE FROM persona_entries WHERE user_id = ? AND id = ?", (user_id, entry_id))
    _tombstone(conn, user_id, entry_id, at, detail)


def erase_model_text(conn: sqlite3.Connection, user_id: str, entry_id: str, detail: str) -> None:
    """Empty the text of an entry's history versions a model wrote; their detail says why."""
    conn.execute(
        "UPDATE history SET text = '', detail = ? WHERE user_id = ? AND memory_id = ?"
        " AND detail = 'model'",
        (detail, user_id, entry_id),
    )


def scrub_finished_jobs(conn: sqlite3.Connection, user_id: str) -> int:
    """Empty the payloads of the user's finished jobs (they may quote erased messages)."""
    return conn.execute(
        "UPDATE jobs SET payload = '{}' WHERE user_id = ? AND status IN ('done', 'failed')"
        " AND payload != '{}'",
        (user_id,),
    ).rowcount


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


def scene_has_turns(conn: sqlite3.Connection, user_id: str, scene_id: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM turns WHERE user_id = ? AND scene_id = ? LIMIT 1", (user_id, scene_id)
    ).fetchone()
    return found is not None


def set_sources(
    conn: sqlite3.Connection, user_id: str, memory_id: str, turn_ids: Sequence[str]
) -> None:
    conn.execute(
        "DELETE FROM memory_sources WHERE user_id = ? AND memory_id = ?", (user_id, memory_id)
    )
    conn.executemany(
        "INSERT INTO memory_sources (user_id, memory_id, position, turn_id) VALUES (?, ?, ?, ?)",
        [(user_id, memory_id, i, turn) for i, turn in enumerate(turn_ids)],
    )


def erase_memory(
    conn: sqlite3.Connection, user_id: str, memory_id: str, at: datetime, detail: str = ""
) -> int:
    """Remove one memory's rows, edges, text and vectors; leave a history tombstone."""
    erased = {
        table: conn.execute(
            f"DELETE FROM {table} WHERE user_id = ? AND id = ?", (user_id, memory_id)
        ).rowcount
        for table in _MEMORY_TABLES
    }
    conn.execute(
        "DELETE FROM memory_sources WHERE user_id = ? AND memory_id = ?", (user_id, memory_id)
    )
    conn.execute(
        "DELETE FROM trigger_targets WHERE user_id = ? AND memory_id = ?", (user_id, memory_id)
    )
    if erased["scenes"]:  # (no index on scene_id: only a scene can be one)
        conn.execute(
            "UPDATE turns SET scene_id = NULL WHERE user_id = ? AND scene_id = ?",
            (user_id, memory_id),
        )
    if erased["items"]:
        # A supersession's reason (written by the model) may quote the erased fact.
        conn.execute(
            "UPDATE history SET detail = ? WHERE user_id = ? AND event = 'superseded'"
            " AND (detail = ? OR detail LIKE ? ESCAPE '\\')",
            (memory_id, user_id, memory_id, _like_prefix(memory_id) + ": %"),
        )
    fts_delete(conn, user_id, [memory_id])
    conn.execute("DELETE FROM risk_flags WHERE user_id = ? AND memory_id = ?", (user_id, memory_id))
    vectors = conn.execute(
        "DELETE FROM vectors WHERE user_id = ? AND owner_id = ?", (user_id, memory_id)
    ).rowcount
    _tombstone(conn, user_id, memory_id, at, detail)
    return int(vectors)


def _tombstone(
    conn: sqlite3.Connection, user_id: str, memory_id: str, at: datetime, detail: str
) -> None:
    """Replace ``memory_id``'s history by a tombstone (its earlier versions hold the erased
    text; the tombstone keeps only the version count)."""
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


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
    compact_text_index(conn, user_id)
    return removed


def compact_text_index(conn: sqlite3.Connection, user_id: str) -> None:
    """Purge deleted terms from ``user_id``'s FTS shard when FTS5 cannot do it per row.

    Merges one shard, not the whole index: other tenants' writes wait for a shard's merge.
    """
    if not FTS5_SECURE_DELETE:
        table = fts_table(user_id)
        conn.execute(f"INSERT INTO {table} ({table}) VALUES ('optimize')")
