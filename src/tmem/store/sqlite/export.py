"""Export and import on SQLite: a user's rows as export dicts (:mod:`tmem.store.codec`) and back."""

from __future__ import annotations

import sqlite3

from tmem.errors import InputError
from tmem.store import codec
from tmem.store.codec import RECORD_TYPES, Row
from tmem.store.sqlite.rows import fetch_rows, put_row
from tmem.store.sqlite.write import write_vector


def export_rows(conn: sqlite3.Connection, user_id: str) -> list[Row]:
    """Every row of ``user_id``, by record type in :data:`~tmem.store.codec.RECORD_TYPES` order."""
    rows: list[Row] = []
    for kind in RECORD_TYPES:
        rows.extend(fetch_rows(conn, kind, user_id))
    return rows


def import_row(conn: sqlite3.Connection, user_id: str, row: Row, dim: int | None) -> None:
    """Write one exported row into ``user_id``.

    Raises:
        InputError: a malformed record.
    """
    try:
        if row["type"] == "vector":
            write_vector(conn, user_id, codec.vector_from_dict(row), dim)
        else:
            put_row(conn, user_id, row)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed {row.get('type')} record: {exc!r}") from None
