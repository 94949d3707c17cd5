"""The SQLite statements that write rows, inside an open transaction.

Functions here take a connection that is already inside ``BEGIN IMMEDIATE``; the store owns
the transaction, so a failure anywhere rolls the whole batch back. Which rows a batch writes,
and in what order, is :mod:`tmem.store.plan`'s.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

from tmem.models import HistoryEvent, Item, Scene, Turn
from tmem.store import codec
from tmem.store.base import Supersession, VectorRow, WriteBatch
from tmem.store.sqlite.rows import put_row
from tmem.store.sqlite.schema import fts_table
from tmem.store.vectors import checked_vector


def put_turn(conn: sqlite3.Connection, user_id: str, turn: Turn) -> None:
    """Upsert a turn; a re-sent turn keeps the scene link and pending mark it already has."""
    existing = conn.execute(
        "SELECT scene_id, pending FROM turns WHERE user_id = ? AND id = ?", (user_id, turn.id)
    ).fetchone()
    scene_id, pending = existing if existing else (None, 0)
    put_row(conn, user_id, codec.turn_to_dict(turn, scene_id=scene_id, pending=bool(pending)))


def indexed_text(conn: sqlite3.Connection, user_id: str, owner_id: str) -> str | None:
    """The text the full-text index holds for ``owner_id`` (None: not indexed)."""
    table = fts_table(user_id)
    row = conn.execute(
        f"SELECT body FROM {table} WHERE rowid ="
        " (SELECT doc FROM fts_docs WHERE user_id = ? AND owner_id = ?)",
        (user_id, owner_id),
    ).fetchone()
    return None if row is None else str(row[0])


def memory_version(conn: sqlite3.Connection, user_id: str, memory: Scene | Item) -> int | None:
    """The stored version of ``memory`` (None: not stored yet)."""
    table = "scenes" if isinstance(memory, Scene) else "items"
    existing = conn.execute(
        f"SELECT version FROM {table} WHERE user_id = ? AND id = ?", (user_id, memory.id)
    ).fetchone()
    return None if existing is None else int(existing[0])


def put_memory(conn: sqlite3.Connection, user_id: str, memory: Scene | Item, version: int) -> None:
    if isinstance(memory, Scene):
        put_row(conn, user_id, codec.scene_to_dict(memory, version=version))
    else:
        put_row(conn, user_id, codec.item_to_dict(memory, version=version))


def add_history(
    conn: sqlite3.Connection,
    user_id: str,
    memory_id: str,
    event: HistoryEvent,
    text: str,
    at: datetime,
    detail: str = "",
) -> int:
    """Append one history entry and return its version (one more than the last)."""
    row = conn.execute(
        "INSERT INTO history (user_id, memory_id, version, event, text, at, detail)"
        " SELECT ?, ?, COALESCE(MAX(version), 0) + 1, ?, ?, ?, ? FROM history"
        " WHERE user_id = ? AND memory_id = ? RETURNING version",
        (user_id, memory_id, event, text, codec.encode_time(at), detail, user_id, memory_id),
    ).fetchone()
    return int(row[0])


def write_vector(conn: sqlite3.Connection, user_id: str, row: VectorRow, dim: int | None) -> None:
    """Upsert one vector after :func:`~tmem.store.vectors.checked_vector`'s checks."""
    vector = checked_vector(row, dim, allow_empty=True)
    put_row(conn, user_id, codec.vector_to_dict(VectorRow(row.owner_id, row.space, vector)))


def drop_targets(conn: sqlite3.Connection, user_id: str, memory_ids: Sequence[str]) -> int:
    """Remove trigger edges to ``memory_ids``; delete triggers left with none. Return deleted."""
    touched: set[str] = set()
    for memory_id in memory_ids:
        rows = conn.execute(
            "DELETE FROM trigger_targets WHERE user_id = ? AND memory_id = ? RETURNING trigger_id",
            (user_id, memory_id),
        ).fetchall()
        touched.update(str(trigger_id) for (trigger_id,) in rows)
    orphans = [
        trigger_id
        for trigger_id in sorted(touched)
        if conn.execute(
            "SELECT 1 FROM trigger_targets WHERE user_id = ? AND trigger_id = ? LIMIT 1",
            (user_id, trigger_id),
        ).fetchone()
        is None
    ]
    delete_triggers(conn, user_id, orphans)
    return len(orphans)


def delete_triggers(conn: sqlite3.Connection, user_id: str, trigger_ids: Sequence[str]) -> int:
    """Delete triggers with their edges and vectors; return vectors removed."""
    removed = 0
    for trigger_id in trigger_ids:
        conn.execute("DELETE FROM triggers WHERE user_id = ? AND id = ?", (user_id, trigger_id))
        removed += conn.execute(
            "DELETE FROM vectors WHERE user_id = ? AND owner_id = ?", (user_id, trigger_id)
        ).rowcount
    return removed


def item_content(conn: sqlite3.Connection, user_id: str, item_id: str) -> str | None:
    row = conn.execute(
        "SELECT content FROM items WHERE user_id = ? AND id = ?", (user_id, item_id)
    ).fetchone()
    return None if row is None else str(row[0])


def mark_superseded(
    conn: sqlite3.Connection, user_id: str, change: Supersession, version: int
) -> None:
    conn.execute(
        "UPDATE items SET status = 'superseded', superseded_by = ?, version = ?"
        " WHERE user_id = ? AND id = ?",
        (change.new_id, version, user_id, change.old_id),
    )


def link_turns(conn: sqlite3.Connection, batch: WriteBatch) -> None:
    user_id = batch.user_id
    conn.executemany(
        "UPDATE turns SET scene_id = ? WHERE user_id = ? AND id = ?",
        [(scene_id, user_id, turn_id) for turn_id, scene_id in batch.scene_of_turn],
    )
    for ids, flag in ((batch.pending_turns, 1), (batch.done_turns, 0)):
        conn.executemany(
            "UPDATE turns SET pending = ? WHERE user_id = ? AND id = ?",
            [(flag, user_id, turn_id) for turn_id in ids],
        )


def set_scene_ids(
    conn: sqlite3.Connection, user_id: str, item_id: str, scenes: Sequence[str]
) -> None:
    conn.execute(
        "UPDATE items SET scene_ids = ? WHERE user_id = ? AND id = ?",
        (json.dumps(list(scenes), ensure_ascii=False), user_id, item_id),
    )


def put_instructions(conn: sqlite3.Connection, user_id: str, text: str, at: datetime) -> None:
    """Store the user's extraction instructions; ``""`` deletes them."""
    if not text:
        conn.execute("DELETE FROM instructions WHERE user_id = ?", (user_id,))
        return
    put_row(conn, user_id, codec.instructions_to_dict(text, at))
