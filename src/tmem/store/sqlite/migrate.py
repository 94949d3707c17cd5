"""Migrating a SQLite store's schema, and the ``meta`` table that records its state.

Migrations are applied in one ``BEGIN IMMEDIATE`` transaction: a crash leaves the old schema
or the new one, never half.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tmem.errors import SchemaVersionError, StoreError
from tmem.store.sqlite import schema
from tmem.store.sqlite.schema import FTS5_SECURE_DELETE, fts_tables


@dataclass(frozen=True)
class StoreMeta:
    """What the ``meta`` table says about a store."""

    schema_version: int
    embedder: tuple[str, int] | None
    tmem_version: str
    created_at: str


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {str(name) for (name,) in rows}


def _applied(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM migrations ORDER BY seq").fetchall()
    return [str(name) for (name,) in rows]


def applied_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations the database has run, oldest first (none for a new file)."""
    return _applied(conn) if "migrations" in _tables(conn) else []


def pending_migrations(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations :func:`migrate` would apply, in order.

    Raises:
        SchemaVersionError: the file was written by a newer tmem.
        StoreError: the file is a SQLite database but not a tmem store.
    """
    tables = _tables(conn)
    if tables and "migrations" not in tables:
        raise StoreError("the database holds tables but is not a tmem store")
    applied = applied_migrations(conn)
    _refuse_unknown(applied, "this tmem")
    return [name for name, _ in schema.MIGRATIONS[len(applied) :]]


def inspect_file(path: str) -> tuple[int, list[str]]:
    """The schema version of the store at ``path`` and its pending migrations; writes nothing.

    A missing file (or ``:memory:``) is a new store: version 0, every migration pending.

    Raises:
        SchemaVersionError: the file was written by a newer tmem.
        StoreError: the file cannot be read or is not a tmem store.
    """
    if path == ":memory:" or not Path(path).exists():
        return 0, [name for name, _ in schema.MIGRATIONS]
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    try:
        pending = pending_migrations(conn)
        return len(schema.MIGRATIONS) - len(pending), pending
    except sqlite3.Error as exc:
        raise StoreError(f"{path!r} is not a readable tmem store: {exc}") from exc
    finally:
        conn.close()


def migrate(conn: sqlite3.Connection, *, tmem_version: str, created_at: str) -> list[str]:
    """Bring the schema up to date inside one transaction; return the names applied.

    Raises:
        SchemaVersionError: the file was written by a newer tmem.
        StoreError: the file is a SQLite database but not a tmem store.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        applied = _migrate(conn, tmem_version=tmem_version, created_at=created_at)
    except BaseException:
        if conn.in_transaction:  # some errors (e.g. a full disk) already rolled it back
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return applied


def _migrate(conn: sqlite3.Connection, *, tmem_version: str, created_at: str) -> list[str]:
    tables = _tables(conn)
    if tables and "migrations" not in tables:
        raise StoreError("the database holds tables but is not a tmem store")
    if not tables:
        conn.execute(
            "CREATE TABLE migrations (seq INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
            " applied_at TEXT NOT NULL)"
        )
    if "meta" in tables:
        _refuse_newer(conn, tmem_version)
    for config in sorted(name for name in tables if _FTS_CONFIG.fullmatch(name)):
        _refuse_newer_fts(conn, config)
    applied = _applied(conn)
    _refuse_unknown(applied, f"this tmem ({tmem_version})")
    pending = schema.MIGRATIONS[len(applied) :]
    for seq, (name, statements) in enumerate(pending, start=len(applied)):
        _apply(conn, statements)
        conn.execute(
            "INSERT INTO migrations (seq, name, applied_at) VALUES (?, ?, ?)",
            (seq, name, created_at),
        )
    _write_meta_defaults(conn, tmem_version=tmem_version, created_at=created_at)
    return [name for name, _ in pending]


_FTS_CONFIG = re.compile(r"fts(_\d+)?_config")
"""The config table of the full-text index (``fts``) or of one of its shards (``fts_NN``)."""


def _refuse_newer_fts(conn: sqlite3.Connection, config: str) -> None:
    """A store whose FTS5 index was written with ``secure-delete`` needs SQLite 3.44+."""
    row = conn.execute(f"SELECT v FROM {config} WHERE k = 'version'").fetchone()
    if row is not None and int(row[0]) >= 5 and not FTS5_SECURE_DELETE:
        raise StoreError(
            "this store's full-text index was written by SQLite 3.44 or newer (FTS5"
            f" secure-delete); this Python's sqlite3 is {sqlite3.sqlite_version}: open the"
            " store with a Python whose sqlite3 is 3.44 or newer"
        )


def _refuse_unknown(applied: list[str], who: str) -> None:
    known = [name for name, _ in schema.MIGRATIONS]
    if applied != known[: len(applied)]:
        raise SchemaVersionError(
            f"store has migrations {applied} that {who} does not know; upgrade tmem to open it"
        )


def _refuse_newer(conn: sqlite3.Connection, tmem_version: str) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is not None and int(row[0]) > len(schema.MIGRATIONS):
        raise SchemaVersionError(
            f"store schema version {row[0]} is newer than this tmem ({tmem_version}) understands"
            f" ({len(schema.MIGRATIONS)}); upgrade tmem to open it"
        )


def _apply(conn: sqlite3.Connection, statements: Sequence[str]) -> None:
    # One execute per statement: executescript() would commit the open transaction.
    for statement in statements:
        conn.execute(statement)


def _write_meta_defaults(conn: sqlite3.Connection, *, tmem_version: str, created_at: str) -> None:
    defaults = {
        "tmem_version": tmem_version,
        "created_at": created_at,
        "generation": "0",
    }
    for key, value in defaults.items():
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, value))
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(len(schema.MIGRATIONS)),),
    )
    if FTS5_SECURE_DELETE:
        for table in fts_tables():
            conn.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('secure-delete', 1)")


def read_meta(conn: sqlite3.Connection) -> StoreMeta:
    values = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    name, dim = values.get("embedder_name"), values.get("embedder_dim")
    return StoreMeta(
        schema_version=int(values.get("schema_version", "0")),
        embedder=(name, int(dim)) if name is not None and dim is not None else None,
        tmem_version=values.get("tmem_version", ""),
        created_at=values.get("created_at", ""),
    )


def write_embedder(conn: sqlite3.Connection, name: str, dim: int) -> None:
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)",
        (("embedder_name", name), ("embedder_dim", str(dim))),
    )


def next_generation(conn: sqlite3.Connection) -> int:
    """Bump and return the store-wide generation counter (monotone, never reused)."""
    row = conn.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
        " RETURNING CAST(value AS INTEGER)"
    ).fetchone()
    return int(row[0])
