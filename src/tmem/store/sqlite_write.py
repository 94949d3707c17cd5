"""Applying a :class:`~tmem.store.base.WriteBatch` inside an open SQLite transaction.

Functions here take a connection that is already inside ``BEGIN IMMEDIATE``; the store owns
the transaction, so a failure anywhere rolls the whole batch back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime

import numpy as np

from tmem.errors import EmbedderMismatchError, InputError, NotFoundError
from tmem.models import HistoryEvent, Item, PersonaProfile, Scene, Trigger, Turn
from tmem.store import codec
from tmem.store.base import SPACES, Supersession, VectorRow, WriteBatch
from tmem.store.fts import index_text
from tmem.store.sqlite_rows import put_row

Owned = Turn | Scene | Item | Trigger | PersonaProfile


def apply_batch(conn: sqlite3.Connection, batch: WriteBatch, dim: int | None) -> None:
    """Write everything in ``batch``; ``dim`` is the bound embedder's dimension, if any."""
    user_id = batch.user_id
    owned: list[Owned] = [*batch.turns, *batch.scenes, *batch.items, *batch.triggers]
    for record in [*owned, *batch.personas]:
        _check_owner(user_id, record)
    for turn in batch.turns:
        _write_turn(conn, user_id, turn)
    memories: list[Scene | Item] = [*batch.scenes, *batch.items]
    for memory in memories:
        _write_memory(conn, user_id, memory, batch.at)
    drop_targets(conn, user_id, batch.delete_triggers_of)
    for trigger in batch.triggers:
        put_row(conn, user_id, codec.trigger_to_dict(trigger))
    for row in batch.vectors:
        write_vector(conn, user_id, row, dim)
    for supersession in batch.supersessions:
        _supersede(conn, user_id, supersession, batch.at)
    for persona in batch.personas:
        put_row(conn, user_id, codec.persona_to_dict(persona))
    _link_turns(conn, user_id, batch)


def _check_owner(user_id: str, record: Owned) -> None:
    if record.user_id != user_id:
        raise InputError(
            f"{type(record).__name__} {getattr(record, 'id', '')!r} belongs to another user than"
            " the batch"
        )


def _write_turn(conn: sqlite3.Connection, user_id: str, turn: Turn) -> None:
    # A re-sent turn keeps the scene link and pending mark it already has.
    existing = conn.execute(
        "SELECT scene_id, pending FROM turns WHERE user_id = ? AND id = ?", (user_id, turn.id)
    ).fetchone()
    scene_id, pending = existing if existing else (None, 0)
    put_row(conn, user_id, codec.turn_to_dict(turn, scene_id=scene_id, pending=bool(pending)))


def _indexed_text(conn: sqlite3.Connection, user_id: str, owner_id: str) -> str | None:
    row = conn.execute(
        "SELECT body FROM fts WHERE rowid ="
        " (SELECT doc FROM fts_docs WHERE user_id = ? AND owner_id = ?)",
        (user_id, owner_id),
    ).fetchone()
    return None if row is None else str(row[0])


def _write_memory(
    conn: sqlite3.Connection, user_id: str, memory: Scene | Item, at: datetime
) -> None:
    """Upsert a scene or item; history records its creation and every change of its text."""
    table = "scenes" if isinstance(memory, Scene) else "items"
    existing = conn.execute(
        f"SELECT version FROM {table} WHERE user_id = ? AND id = ?", (user_id, memory.id)
    ).fetchone()
    version = int(existing[0]) if existing else 0
    if existing is None:
        version = add_history(conn, user_id, memory.id, "created", memory.text, at)
    elif _indexed_text(conn, user_id, memory.id) != index_text(memory):
        version = add_history(conn, user_id, memory.id, "updated", memory.text, at)
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
    """Upsert one vector after checking its space, shape and values.

    Raises:
        InputError: unknown space, not one-dimensional, or not finite.
        EmbedderMismatchError: its length differs from the bound embedder's dimension.
    """
    if row.space not in SPACES:
        raise InputError(f"unknown vector space {row.space!r}; expected one of {SPACES}")
    vector = np.asarray(row.vector, dtype=np.float32)
    if vector.ndim != 1 or not np.isfinite(vector).all():
        raise InputError(f"vector of {row.owner_id!r} must be one-dimensional and finite")
    if dim is not None and vector.shape[0] != dim:
        raise EmbedderMismatchError(
            f"vector of {row.owner_id!r} has {vector.shape[0]} dimensions; the store's embedder"
            f" has {dim}"
        )
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


def _supersede(conn: sqlite3.Connection, user_id: str, change: Supersession, at: datetime) -> None:
    row = conn.execute(
        "SELECT content FROM items WHERE user_id = ? AND id = ?", (user_id, change.old_id)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"cannot supersede item {change.old_id!r}: no such item")
    detail = f"{change.new_id}: {change.reason}" if change.reason else change.new_id
    version = add_history(conn, user_id, change.old_id, "superseded", str(row[0]), at, detail)
    conn.execute(
        "UPDATE items SET status = 'superseded', superseded_by = ?, version = ?"
        " WHERE user_id = ? AND id = ?",
        (change.new_id, version, user_id, change.old_id),
    )


def _link_turns(conn: sqlite3.Connection, user_id: str, batch: WriteBatch) -> None:
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
