"""Export and import on Postgres, in the shared format of :mod:`tmem.store.codec`.

Rows come out in the SQLite store's order (turns by ``seq``, scenes and items by time, then
triggers, vectors, persona entries, instructions and history by key), so an export of the same
memories is the same list of dicts on both backends, and either backend imports the other's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tmem.errors import InputError
from tmem.store import codec
from tmem.store.base import VectorRow
from tmem.store.codec import Row
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.read import all_triggers, history, instructions, persona_entries
from tmem.store.postgres.rows import (
    ITEM_COLUMNS,
    SCENE_COLUMNS,
    TURN_COLUMNS,
    item_from_row,
    scene_from_row,
    split_time,
    turn_from_row,
    vector_from_text,
)
from tmem.store.postgres.schema import VECTOR_TABLE
from tmem.store.postgres.write import (
    put_instructions,
    put_memory,
    put_persona_entry,
    put_trigger,
    put_turn,
    put_vectors,
)


def export_rows(cursor: Cursor, user_id: str, has_vectors: bool) -> list[Row]:
    """Every row of ``user_id`` as export dicts, by type in :data:`codec.RECORD_TYPES` order."""
    rows = _memories(cursor, user_id)
    rows.extend(codec.trigger_to_dict(trigger) for trigger in all_triggers(cursor, user_id))
    if has_vectors:
        rows.extend(_vectors(cursor, user_id))
    rows.extend(codec.persona_entry_to_dict(entry) for entry in persona_entries(cursor, user_id))
    given = instructions(cursor, user_id)
    if given is not None:
        rows.append(codec.instructions_to_dict(*given))
    rows.extend(codec.history_to_dict(entry) for entry in history(cursor, user_id))
    return rows


def _memories(cursor: Cursor, user_id: str) -> list[Row]:
    cursor.execute(
        f"SELECT {TURN_COLUMNS}, scene_id, pending FROM tmem_turns WHERE user_id = %s"
        ' ORDER BY seq, id COLLATE "C"',
        (user_id,),
    )
    rows = [
        codec.turn_to_dict(turn_from_row(row[:-2]), scene_id=row[-2], pending=row[-1])
        for row in cursor.fetchall()
    ]
    cursor.execute(
        f"SELECT {SCENE_COLUMNS}, version FROM tmem_scenes WHERE user_id = %s"
        ' ORDER BY ts, id COLLATE "C"',
        (user_id,),
    )
    rows.extend(
        codec.scene_to_dict(scene_from_row(row[:-1]), version=row[-1]) for row in cursor.fetchall()
    )
    cursor.execute(
        f"SELECT {ITEM_COLUMNS}, version FROM tmem_items WHERE user_id = %s"
        ' ORDER BY ts, id COLLATE "C"',
        (user_id,),
    )
    rows.extend(
        codec.item_to_dict(item_from_row(row[:-1]), version=row[-1]) for row in cursor.fetchall()
    )
    return rows


def _vectors(cursor: Cursor, user_id: str) -> list[Row]:
    cursor.execute(
        f"SELECT owner_id, space, embedding::text FROM {VECTOR_TABLE} WHERE user_id = %s"
        ' ORDER BY space COLLATE "C", owner_id COLLATE "C"',
        (user_id,),
    )
    return [
        codec.vector_to_dict(VectorRow(owner, space, vector_from_text(text)))
        for owner, space, text in cursor.fetchall()
    ]


# --- import -------------------------------------------------------------------------------------
def _import_turn(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    turn = codec.turn_from_dict(user_id, row)
    put_turn(cursor, user_id, turn, row["scene_id"], bool(row["pending"]), replace_links=True)


def _import_scene(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    put_memory(cursor, user_id, codec.scene_from_dict(user_id, row), int(row["version"]))


def _import_item(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    put_memory(cursor, user_id, codec.item_from_dict(user_id, row), int(row["version"]))


def _import_trigger(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    put_trigger(cursor, user_id, codec.trigger_from_dict(user_id, row))


def _import_vector(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    put_vectors(cursor, user_id, [codec.vector_from_dict(row)], dim)


def _import_persona_entry(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    put_persona_entry(cursor, user_id, codec.persona_entry_from_dict(user_id, row))


def _import_instructions(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    put_instructions(cursor, user_id, str(row["text"]), codec.decode_time(row["updated_at"]))


def _import_history(cursor: Cursor, user_id: str, row: Row, dim: int | None) -> None:
    entry = codec.history_from_dict(row)
    instant, offset = split_time(entry.at)
    cursor.execute(
        "INSERT INTO tmem_history (user_id, memory_id, version, event, text, at, at_offset,"
        " detail) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (user_id, memory_id, version) DO UPDATE SET event = excluded.event,"
        " text = excluded.text, at = excluded.at, at_offset = excluded.at_offset,"
        " detail = excluded.detail",
        (
            user_id,
            entry.memory_id,
            entry.version,
            entry.event,
            entry.text,
            instant,
            offset,
            entry.detail,
        ),
    )


_IMPORTERS: dict[str, Callable[[Cursor, str, Row, int | None], None]] = {
    "turn": _import_turn,
    "scene": _import_scene,
    "item": _import_item,
    "trigger": _import_trigger,
    "vector": _import_vector,
    "persona_entry": _import_persona_entry,
    "instructions": _import_instructions,
    "history": _import_history,
}


def import_row(cursor: Cursor, user_id: str, row: dict[str, Any], dim: int | None) -> None:
    """Write one export dict (its type already checked by :func:`codec.split_export`).

    Raises:
        InputError: the record lacks a field or holds a value of the wrong type.
    """
    try:
        _IMPORTERS[row["type"]](cursor, user_id, row, dim)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed {row.get('type')} record: {exc!r}") from None
