"""Export-format dicts (:mod:`tmem.store.codec`) to SQLite rows and back, FTS kept in step.

Every dict type maps to one table (plus ``memory_sources`` for source turns and
``trigger_targets`` for trigger edges). Columns have the dict's key names; list and dict
values are JSON text. Writing a turn, scene or item also rewrites its full-text entry, so the
FTS table cannot drift from the rows it indexes.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from tmem.errors import InputError
from tmem.store import codec
from tmem.store.codec import Row
from tmem.store.fts import index_text, indexed_length, scope_token
from tmem.store.sqlite.schema import fts_table

T = TypeVar("T")


@dataclass(frozen=True)
class Table:
    """How one record type is laid out: key and value columns, JSON and boolean columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[str, ...]
    order: str
    json: frozenset[str] = field(default_factory=frozenset)
    bools: frozenset[str] = field(default_factory=frozenset)
    timed: bool = False
    """Rows carry ``time_key``, derived from ``timestamp`` for time-ordered reads."""
    ordinal: bool = False
    """Rows carry ``ord``, their place in creation order, given when first written (pages)."""


TABLES: dict[str, Table] = {
    "turn": Table(
        "turns",
        ("id",),
        ("id", "session_id", "seq", "speaker", "content", "timestamp", "scene_id", "pending"),
        order="seq, id",
        bools=frozenset({"pending"}),
        timed=True,
    ),
    "scene": Table(
        "scenes",
        ("id",),
        (
            *("id", "title", "summary", "narrative", "timestamp"),
            *("session_ids", "participants", "provenance", "version"),
        ),
        order="time_key, id",
        json=frozenset({"session_ids", "participants", "provenance"}),
        timed=True,
        ordinal=True,
    ),
    "item": Table(
        "items",
        ("id",),
        (
            *("id", "content", "timestamp", "scene_ids", "temporal", "spatial", "keywords"),
            *("query_patterns", "status", "superseded_by", "provenance", "version"),
        ),
        order="time_key, id",
        json=frozenset({"scene_ids", "keywords", "query_patterns", "provenance"}),
        timed=True,
        ordinal=True,
    ),
    "trigger": Table(
        "triggers",
        ("id",),
        ("id", "family", "text", "facet", "provenance"),
        order="id",
        json=frozenset({"provenance"}),
    ),
    "vector": Table(
        "vectors", ("space", "owner_id"), ("space", "owner_id", "dim", "vector"), "space, owner_id"
    ),
    "persona_entry": Table(
        "persona_entries",
        ("id",),
        (
            *("id", "speaker", "section", "key", "value", "source_turns", "pinned", "origin"),
            *("created_at", "updated_at", "position"),
        ),
        order="speaker, position, id",
        json=frozenset({"source_turns"}),
        bools=frozenset({"pinned"}),
    ),
    "instructions": Table("instructions", (), ("text", "updated_at"), order="user_id"),
    "history": Table(
        "history",
        ("memory_id", "version"),
        ("memory_id", "version", "event", "text", "at", "detail"),
        order="memory_id, version",
    ),
}


# --- columns ----------------------------------------------------------------------------------
def _encode(table: Table, column: str, value: Any) -> Any:
    if column in table.json:
        return json.dumps(value, ensure_ascii=False)
    if column in table.bools:
        return int(bool(value))
    if table.name == "vectors" and column == "vector":
        return base64.b64decode(value, validate=True)
    return value


_TIMES = frozenset({"timestamp", "created_at", "updated_at", "at"})


def _decode(table: Table, column: str, value: Any) -> Any:
    if column in _TIMES and value is not None:
        return codec.readable_time(value)  # a row stored out of range still reads (issue 12)
    if column in table.json:
        return json.loads(value)
    if column in table.bools:
        return bool(value)
    if table.name == "vectors" and column == "vector":
        return base64.b64encode(value).decode("ascii")
    return value


# --- writing ----------------------------------------------------------------------------------
def _upsert(conn: sqlite3.Connection, table: Table, user_id: str, row: Row) -> None:
    columns = ["user_id", *table.columns]
    values = [user_id, *(_encode(table, c, row[c]) for c in table.columns)]
    if table.timed:
        columns.append("time_key")
        values.append(codec.time_key(codec.decode_time(row["timestamp"])))
    if table.ordinal:
        columns.append("ord")
        values.append(_next_ord(conn))
    kept = {*table.key, "ord"}  # a row written again keeps its place in creation order
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in kept)
    conflict = ", ".join(("user_id", *table.key))
    conn.execute(
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}",
        values,
    )


def _next_ord(conn: sqlite3.Connection) -> int:
    """The next value of the store-wide creation counter (monotone, never reused; a value
    drawn for a row that already existed is simply skipped)."""
    found = conn.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'ord'"
        " RETURNING CAST(value AS INTEGER)"
    ).fetchone()
    return int(found[0])


def put_row(conn: sqlite3.Connection, user_id: str, row: Row) -> None:
    """Insert or replace one export-format dict, with its sources, targets and FTS entry."""
    kind = row["type"]
    if kind == "persona_entry":
        codec.persona_entry_from_dict(user_id, row)  # its section and origin are checked
    _upsert(conn, TABLES[kind], user_id, row)
    if kind in ("scene", "item"):
        _put_list(conn, "memory_sources", "memory_id", (user_id, row["id"]), row["source_turns"])
    if kind == "trigger":
        conn.execute(
            "DELETE FROM trigger_targets WHERE user_id = ? AND trigger_id = ?", (user_id, row["id"])
        )
        conn.executemany(
            "INSERT INTO trigger_targets (user_id, trigger_id, position, memory_id, confidence)"
            " VALUES (?, ?, ?, ?, ?)",
            [(user_id, row["id"], i, t, float(c)) for i, (t, c) in enumerate(row["targets"])],
        )
    if kind in ("turn", "scene", "item"):
        record = codec.memory_from_dict(user_id, row)
        fts_put(conn, user_id, kind, row["id"], index_text(record))


def _put_list(
    conn: sqlite3.Connection, table: str, owner: str, key: tuple[str, str], turns: Sequence[str]
) -> None:
    conn.execute(f"DELETE FROM {table} WHERE user_id = ? AND {owner} = ?", key)
    conn.executemany(
        f"INSERT INTO {table} (user_id, {owner}, position, turn_id) VALUES (?, ?, ?, ?)",
        [(*key, i, turn) for i, turn in enumerate(turns)],
    )


def fts_put(conn: sqlite3.Connection, user_id: str, kind: str, owner_id: str, text: str) -> None:
    """Index ``text`` for ``owner_id`` in the user's shard, replacing what was indexed before."""
    existing = conn.execute(
        "SELECT doc FROM fts_docs WHERE user_id = ? AND owner_id = ?", (user_id, owner_id)
    ).fetchone()
    row = existing
    if row is None:
        row = conn.execute(
            "INSERT INTO fts_docs (user_id, owner_id) VALUES (?, ?) RETURNING doc",
            (user_id, owner_id),
        ).fetchone()
    table = fts_table(user_id)
    if existing is not None:
        _unindex(conn, user_id, table, [int(row[0])])
    conn.execute(
        f"INSERT INTO {table} (rowid, body, scope, user_id, kind, owner_id)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (row[0], text, scope_token(user_id, kind), user_id, kind, owner_id),
    )
    _count_lengths(conn, user_id, Counter({kind: 1}), Counter({kind: indexed_length(text)}))


def fts_delete(conn: sqlite3.Connection, user_id: str, owner_ids: Sequence[str]) -> None:
    table = fts_table(user_id)
    for chunk, marks in in_chunks(list(owner_ids)):
        docs = conn.execute(
            f"DELETE FROM fts_docs WHERE user_id = ? AND owner_id IN ({marks}) RETURNING doc",
            (user_id, *chunk),
        ).fetchall()
        _unindex(conn, user_id, table, [int(doc) for (doc,) in docs])


def _unindex(conn: sqlite3.Connection, user_id: str, table: str, docs: Sequence[int]) -> None:
    """Remove rows ``docs`` from FTS5 ``table`` and from the user's length statistics."""
    rows: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for chunk, marks in in_chunks(docs):
        # FTS5 tables refuse DELETE ... RETURNING: read the rows first.
        for kind, body in conn.execute(
            f"SELECT kind, body FROM {table} WHERE rowid IN ({marks})", chunk
        ).fetchall():
            rows[str(kind)] -= 1
            tokens[str(kind)] -= indexed_length(str(body))
        conn.execute(f"DELETE FROM {table} WHERE rowid IN ({marks})", chunk)
    _count_lengths(conn, user_id, rows, tokens)


def _count_lengths(
    conn: sqlite3.Connection, user_id: str, rows: Counter[str], tokens: Counter[str]
) -> None:
    """Add ``rows`` and ``tokens`` (negative: removed) to the user's per-kind FTS statistics."""
    for kind in rows:
        conn.execute(
            "INSERT INTO fts_lengths (user_id, kind, rows, tokens) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (user_id, kind) DO UPDATE"
            " SET rows = rows + excluded.rows, tokens = tokens + excluded.tokens",
            (user_id, kind, rows[kind], tokens[kind]),
        )
    if rows:
        conn.execute("DELETE FROM fts_lengths WHERE user_id = ? AND rows <= 0", (user_id,))


# --- reading ----------------------------------------------------------------------------------
def fetch_rows(
    conn: sqlite3.Connection,
    kind: str,
    user_id: str,
    where: str = "",
    params: Sequence[Any] = (),
    *,
    ordered: bool = True,
) -> list[Row]:
    """Export-format dicts of ``kind`` for ``user_id``, in the table's order when ``ordered``.

    ``where`` is an extra SQL condition written by this package, never by a caller. Fetching
    a few rows by id should pass ``ordered=False``: to avoid a sort, SQLite would otherwise
    walk the user's whole ordering index (35 ms instead of 0.3 ms for 90 ids of 100K).
    """
    table = TABLES[kind]
    clause = f" AND ({where})" if where else ""
    order = f" ORDER BY {table.order}" if ordered else ""
    cursor = conn.execute(
        f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE user_id = ?{clause}{order}",
        (user_id, *params),
    )
    return decoded_rows(conn, kind, user_id, cursor.fetchall())


def decoded_rows(
    conn: sqlite3.Connection, kind: str, user_id: str, values: Sequence[Sequence[Any]]
) -> list[Row]:
    """Export-format dicts of ``kind`` from its columns' values, sources and targets attached."""
    table = TABLES[kind]
    rows: list[Row] = []
    for each in values:
        row: Row = {"type": kind}
        row.update((c, _decode(table, c, v)) for c, v in zip(table.columns, each, strict=True))
        rows.append(row)
    _attach_links(conn, kind, user_id, rows)
    return rows


_LINKS: dict[str, tuple[str, str, str]] = {
    "scene": ("source_turns", "memory_sources", "memory_id, turn_id"),
    "item": ("source_turns", "memory_sources", "memory_id, turn_id"),
    "trigger": ("targets", "trigger_targets", "trigger_id, memory_id, confidence"),
}


def _attach_links(conn: sqlite3.Connection, kind: str, user_id: str, rows: list[Row]) -> None:
    """Fill source turns or trigger targets for ``rows`` with one query per chunk of ids."""
    if kind not in _LINKS:
        return
    key, table, columns = _LINKS[kind]
    owner = columns.split(",")[0]
    links: dict[str, list[Any]] = {row["id"]: [] for row in rows}
    ids = list(links)
    for chunk, marks in in_chunks(ids):
        cursor = conn.execute(
            f"SELECT {columns} FROM {table} WHERE user_id = ?"
            f" AND {owner} IN ({marks}) ORDER BY {owner}, position",
            (user_id, *chunk),
        )
        for owner_id, *value in cursor:
            links[owner_id].append(value if kind == "trigger" else value[0])
    for row in rows:
        row[key] = links[row["id"]]


CHUNK = 500
"""Ids per ``IN (...)`` list, well under SQLite's bound-parameter limit."""


def in_chunks(values: Sequence[T]) -> Iterator[tuple[Sequence[T], str]]:
    """``values`` in slices of ``CHUNK``, each with its ``?, ?, …`` placeholder list."""
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        yield chunk, ", ".join("?" * len(chunk))


# --- the service tables' values ---------------------------------------------------------------
def service_time(moment: datetime) -> str:
    """``moment`` in UTC as fixed-width ISO 8601 text (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str | None) -> datetime | None:
    """A :func:`service_time` text back as an aware datetime (None stays None)."""
    return None if text is None else datetime.fromisoformat(text)


def service_json(value: Mapping[str, Any], what: str) -> str:
    """A service column's JSON text.

    Raises:
        InputError: ``value`` (named ``what`` in the message) is not JSON-serialisable.
    """
    try:
        return json.dumps(dict(value), ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} is not JSON-serialisable: {exc}") from None
