"""Keyset pages on Postgres: one range scan of a ``(user_id, key...)`` index per section.

The sections, their keys and the walk are :mod:`tmem.store.keyset`'s; this module says which
columns hold each key (text bytewise, ``COLLATE "C"``, as the page indexes of migration 6 are
built) and reads one section's rows after a key, decoded as ``list`` and ``export`` decode
them, so a page holds exactly the objects and dicts the unpaged calls return.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from tmem.models import HistoryEntry, Kind, Record
from tmem.paging import Chunk, Key, Position
from tmem.store import codec, keyset
from tmem.store.base import VectorRow
from tmem.store.codec import Row
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.rows import (
    HISTORY_COLUMNS,
    ITEM_COLUMNS,
    PERSONA_COLUMNS,
    SCENE_COLUMNS,
    TRIGGER_COLUMNS,
    TURN_COLUMNS,
    history_from_row,
    item_from_row,
    join_time,
    persona_from_row,
    scene_from_row,
    trigger_from_row,
    turn_from_row,
    vector_from_text,
)
from tmem.store.postgres.schema import VECTOR_TABLE

DBRow = tuple[Any, ...]


@dataclass(frozen=True)
class Section:
    """Where one section's rows live and how its key is read and compared."""

    table: str
    keys: tuple[str, ...]
    """The key's columns, in order."""
    text_keys: frozenset[str]
    """Key columns compared bytewise (``COLLATE "C"``)."""
    columns: str
    """What is read after the key."""

    def key_order(self) -> str:
        return ", ".join(f'{k} COLLATE "C"' if k in self.text_keys else k for k in self.keys)


_TARGETS = (
    "coalesce((SELECT array_agg(ARRAY[x.memory_id, x.confidence::text] ORDER BY x.position)"
    " FROM tmem_trigger_targets x WHERE x.user_id = t.user_id AND x.trigger_id = t.id), '{}')"
)
_ID = frozenset({"id"})

SECTIONS: dict[str, Section] = {
    "turn": Section("tmem_turns", ("seq", "id"), _ID, f"{TURN_COLUMNS}, scene_id, pending"),
    "scene": Section("tmem_scenes", ("ord", "id"), _ID, f"{SCENE_COLUMNS}, version"),
    "item": Section("tmem_items", ("ord", "id"), _ID, f"{ITEM_COLUMNS}, version"),
    "trigger": Section("tmem_triggers", ("id",), _ID, f"{TRIGGER_COLUMNS}, {_TARGETS}"),
    "vector": Section(
        VECTOR_TABLE,
        ("space", "owner_id"),
        frozenset({"space", "owner_id"}),
        "embedding::text",
    ),
    "persona_entry": Section(
        "tmem_persona_entries",
        ("speaker", "position", "id"),
        frozenset({"speaker", "id"}),
        PERSONA_COLUMNS,
    ),
    "instructions": Section(
        "tmem_instructions",
        ("user_id",),
        frozenset(),  # one row at most, found by equality: no collation to agree on
        "text, updated_at, updated_at_offset",
    ),
    "history": Section(
        "tmem_history", ("memory_id", "version"), frozenset({"memory_id"}), HISTORY_COLUMNS
    ),
    "version": Section("tmem_history", ("version",), frozenset(), HISTORY_COLUMNS),
}
"""Each section's table and key (indexes: ``tmem_*_page``; ``version`` and ``instructions``: the
primary key)."""

ACTIVE = "status = 'active'"
"""``list`` leaves superseded items out."""


def page_query(
    section: str,
    user_id: str,
    after: Key | None,
    limit: int,
    where: str = "",
    where_params: Sequence[Any] = (),
) -> tuple[str, list[Any]]:
    """The SQL and parameters reading up to ``limit`` rows of ``section`` after key ``after``.

    The first columns are the key's; ``where`` is SQL written by this package, never a caller.
    """
    part = SECTIONS[section]
    conditions: list[str] = ["t.user_id = %s"]
    params: list[Any] = [user_id]
    if where:
        conditions.append(f"({where})")
        params.extend(where_params)
    if after is not None:
        marks = ", ".join(["%s"] * len(part.keys))
        conditions.append(f"({part.key_order()}) > ({marks})")
        params.extend(after)
    keys = ", ".join(f"t.{k}" for k in part.keys)
    sql = (
        f"SELECT {keys}, {part.columns} FROM {part.table} t"
        f" WHERE {' AND '.join(conditions)} ORDER BY {part.key_order()} LIMIT %s"
    )
    return sql, [*params, limit]


def keyed(
    cursor: Cursor,
    section: str,
    user_id: str,
    after: Key | None,
    limit: int,
    where: str = "",
    where_params: Sequence[Any] = (),
) -> list[tuple[Key, DBRow]]:
    """Up to ``limit`` rows of ``section`` after ``after`` in key order: (key, the rest)."""
    sql, params = page_query(section, user_id, after, limit, where, where_params)
    cursor.execute(sql, params)
    width = len(SECTIONS[section].keys)
    return [(tuple(row[:width]), tuple(row[width:])) for row in cursor.fetchall()]


_RECORDS: dict[str, Callable[[DBRow], Record]] = {
    "turn": lambda row: turn_from_row(row[:-2]),
    "scene": lambda row: scene_from_row(row[:-1]),
    "item": lambda row: item_from_row(row[:-1]),
}


def _export_row(section: str, user_id: str, key: Key, row: DBRow) -> Row:
    """One export dict, as :func:`tmem.store.postgres.export.export_rows` writes it."""
    if section == "turn":
        return codec.turn_to_dict(turn_from_row(row[:-2]), scene_id=row[-2], pending=row[-1])
    if section == "scene":
        return codec.scene_to_dict(scene_from_row(row[:-1]), version=row[-1])
    if section == "item":
        return codec.item_to_dict(item_from_row(row[:-1]), version=row[-1])
    if section == "trigger":
        targets = [(memory, float(confidence)) for memory, confidence in row[-1]]
        return codec.trigger_to_dict(trigger_from_row(row[:-1], targets))
    if section == "vector":
        space, owner = str(key[0]), str(key[1])
        return codec.vector_to_dict(VectorRow(owner, space, vector_from_text(row[0])))
    if section == "persona_entry":
        return codec.persona_entry_to_dict(persona_from_row(row))
    if section == "instructions":
        return codec.instructions_to_dict(str(row[0]), join_time(row[1], row[2]))
    return codec.history_to_dict(history_from_row(row))


def list_page(
    cursor: Cursor, user_id: str, kind: Kind | None, after: Position | None, limit: int
) -> Chunk[Record]:
    """One page of the user's memories (superseded items left out)."""

    def fetch(section: str, key: Key | None, n: int) -> list[tuple[Key, Record]]:
        where = ACTIVE if section == "item" else ""
        decode = _RECORDS[section]
        return [
            (found, decode(row)) for found, row in keyed(cursor, section, user_id, key, n, where)
        ]

    return keyset.page(keyset.list_sections(kind), fetch, after, limit)


def history_page(
    cursor: Cursor, user_id: str, memory_id: str, after: Position | None, limit: int
) -> Chunk[HistoryEntry]:
    """One page of a memory's stored history entries, by version."""

    def fetch(section: str, key: Key | None, n: int) -> list[tuple[Key, HistoryEntry]]:
        rows = keyed(cursor, section, user_id, key, n, "t.memory_id = %s", (memory_id,))
        return [(found, history_from_row(row)) for found, row in rows]

    return keyset.page(keyset.HISTORY_SECTIONS, fetch, after, limit)


def export_page(
    cursor: Cursor,
    user_id: str,
    after: Position | None,
    limit: int,
    header: Row,
    has_vectors: bool,
) -> Chunk[Row]:
    """One page of the user's export: ``header`` first, then rows by type, each by its key."""

    def fetch(section: str, key: Key | None, n: int) -> list[tuple[Key, Row]]:
        if section == "header":
            return [((), header)] if key is None else []
        if section == "vector" and not has_vectors:
            return []  # no vector table yet
        rows = keyed(cursor, section, user_id, key, n)
        return [(found, _export_row(section, user_id, found, row)) for found, row in rows]

    return keyset.page(keyset.EXPORT_SECTIONS, fetch, after, limit)
