"""Keyset pages on SQLite: one range scan of a ``(user_id, key...)`` index per section.

The sections, their keys and the walk are :mod:`tmem.store.keyset`'s; this module says which
columns hold each key and reads one section's rows after a key, in the shared export format
(:mod:`tmem.store.codec`), so ``list`` and ``export`` pages decode rows as ``list`` and
``export`` do.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from tmem.models import HistoryEntry, Kind, Record
from tmem.paging import Chunk, Key, Position
from tmem.store import codec, keyset
from tmem.store.codec import Row
from tmem.store.sqlite.rows import TABLES, decoded_rows

KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "turn": ("seq", "id"),
    "scene": ("ord", "id"),
    "item": ("ord", "id"),
    "trigger": ("id",),
    "vector": ("space", "owner_id"),
    "persona_entry": ("speaker", "position", "id"),
    "instructions": ("user_id",),
    "history": ("memory_id", "version"),
    "version": ("version",),
}
"""The columns of each section's key (indexes: ``turns_by_seq``, ``scenes_by_ord``,
``items_by_ord``, ``persona_entries_by_page`` and the primary keys)."""

RECORD_TYPE: dict[str, str] = {"version": "history"}
"""The record type (and so the table) of a section not named after one."""

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
    table, keys = TABLES[RECORD_TYPE.get(section, section)], KEY_COLUMNS[section]
    conditions: list[str] = ["user_id = ?"]
    params: list[Any] = [user_id]
    if where:
        conditions.append(f"({where})")
        params.extend(where_params)
    if after is not None:
        conditions.append(f"({', '.join(keys)}) > ({', '.join('?' * len(keys))})")
        params.extend(after)
    order = ", ".join(keys)
    sql = (
        f"SELECT {order}, {', '.join(table.columns)} FROM {table.name}"
        f" WHERE {' AND '.join(conditions)} ORDER BY {order} LIMIT ?"
    )
    return sql, [*params, limit]


def keyed_rows(
    conn: sqlite3.Connection,
    section: str,
    user_id: str,
    after: Key | None,
    limit: int,
    where: str = "",
    where_params: Sequence[Any] = (),
) -> list[tuple[Key, Row]]:
    """Up to ``limit`` export dicts of ``section`` after ``after``, in key order, with keys."""
    sql, params = page_query(section, user_id, after, limit, where, where_params)
    found = conn.execute(sql, params).fetchall()
    width = len(KEY_COLUMNS[section])
    kind = RECORD_TYPE.get(section, section)
    rows = decoded_rows(conn, kind, user_id, [values[width:] for values in found])
    return [(tuple(values[:width]), row) for values, row in zip(found, rows, strict=True)]


def list_page(
    conn: sqlite3.Connection, user_id: str, kind: Kind | None, after: Position | None, limit: int
) -> Chunk[Record]:
    """One page of the user's memories (superseded items left out)."""

    def fetch(section: str, key: Key | None, n: int) -> list[tuple[Key, Record]]:
        where = ACTIVE if section == "item" else ""
        return [
            (found, codec.memory_from_dict(user_id, row))
            for found, row in keyed_rows(conn, section, user_id, key, n, where)
        ]

    return keyset.page(keyset.list_sections(kind), fetch, after, limit)


def history_page(
    conn: sqlite3.Connection, user_id: str, memory_id: str, after: Position | None, limit: int
) -> Chunk[HistoryEntry]:
    """One page of a memory's stored history entries, by version."""

    def fetch(section: str, key: Key | None, n: int) -> list[tuple[Key, HistoryEntry]]:
        rows = keyed_rows(conn, section, user_id, key, n, "memory_id = ?", (memory_id,))
        return [(found, codec.history_from_dict(row)) for found, row in rows]

    return keyset.page(keyset.HISTORY_SECTIONS, fetch, after, limit)


def export_page(
    conn: sqlite3.Connection, user_id: str, after: Position | None, limit: int, header: Row
) -> Chunk[Row]:
    """One page of the user's export: ``header`` first, then rows by type, each by its key."""

    def fetch(section: str, key: Key | None, n: int) -> list[tuple[Key, Row]]:
        if section == "header":
            return [((), header)] if key is None else []
        return keyed_rows(conn, section, user_id, key, n)

    return keyset.page(keyset.EXPORT_SECTIONS, fetch, after, limit)
