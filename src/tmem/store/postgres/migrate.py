"""Bringing a Postgres database to tmem's schema, and the ``tmem_meta`` values beside it.

Every schema change runs in one transaction that first takes a transaction-scoped advisory
lock, so two processes opening the same database at once apply each migration exactly once
(the second waits, then finds nothing left to do), and a crash leaves the old schema or the
new one, never half (Postgres DDL is transactional). Opening a store migrates; ``tmem migrate``
does it explicitly (say, before rolling out servers of a new version), ``--dry-run`` lists what
would run.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from tmem.errors import EmbedderMismatchError, SchemaVersionError, StoreError
from tmem.store.base import VectorRow
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.schema import (
    MIGRATION_LOCK,
    MIGRATIONS,
    SCHEMA_VERSION_KEY,
    VECTOR_TABLE,
    Migration,
    vector_table_ddl,
)
from tmem.store.vectors import checked_vector

SCHEMA_VERSION = len(MIGRATIONS)


def lock_schema(cursor: Cursor) -> None:
    """Hold the schema lock until the transaction ends."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))


def _ensure_extension(cursor: Cursor) -> None:
    cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'vector'")
    if cursor.fetchone():
        return
    try:
        cursor.execute("CREATE EXTENSION vector")
    except psycopg.Error as error:  # InsufficientPrivilege, or the binaries are not installed
        raise StoreError(
            "the pgvector extension is missing and this role cannot create it; run"
            " `CREATE EXTENSION vector` as a superuser in this database (docs/postgres.md)"
        ) from error


def migration_name(migration: Migration) -> str:
    """How the CLI and reports name a migration, e.g. ``0002_service``."""
    return f"{migration.version:04d}_{migration.name}"


def _applied(cursor: Cursor) -> list[tuple[int, str]]:
    cursor.execute("SELECT version, name FROM tmem_migrations ORDER BY version")
    return [(int(version), str(name)) for version, name in cursor.fetchall()]


def _refuse_unknown(applied: list[tuple[int, str]], tmem_version: str) -> None:
    known = [(migration.version, migration.name) for migration in MIGRATIONS]
    if applied != known[: len(applied)]:
        raise SchemaVersionError(
            f"database has migrations {applied} that this tmem ({tmem_version}) does not know;"
            " upgrade tmem to open it"
        )


def pending_migrations(cursor: Cursor, tmem_version: str) -> list[str]:
    """Names of the migrations :func:`migrate` would apply, in order; changes nothing.

    Raises:
        SchemaVersionError: the database holds migrations this tmem does not know (newer).
    """
    cursor.execute("SELECT to_regclass('tmem_migrations') IS NOT NULL")
    row = cursor.fetchone()
    applied = _applied(cursor) if row is not None and row[0] else []
    _refuse_unknown(applied, tmem_version)
    return [migration_name(migration) for migration in MIGRATIONS[len(applied) :]]


def inspect_database(url: str, tmem_version: str) -> tuple[int, list[str]]:
    """The schema version of the database at ``url`` and its pending migrations; writes nothing.

    Raises:
        SchemaVersionError: the database holds migrations this tmem does not know (newer).
        StoreError: the database cannot be reached or read.
    """
    try:
        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
            pending = pending_migrations(cursor, tmem_version)
    except psycopg.Error as error:
        raise StoreError(f"cannot read the schema of the Postgres database: {error}") from error
    return len(MIGRATIONS) - len(pending), pending


def migrate(cursor: Cursor, tmem_version: str) -> list[str]:
    """Apply every migration not yet applied, in order; return the names applied.

    Raises:
        SchemaVersionError: the database holds migrations this tmem does not know (newer).
        StoreError: pgvector is missing and cannot be created.
    """
    lock_schema(cursor)
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS tmem_migrations (version integer PRIMARY KEY,"
        " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    applied = _applied(cursor)
    _refuse_unknown(applied, tmem_version)
    pending = MIGRATIONS[len(applied) :]
    if pending:
        _ensure_extension(cursor)
    for migration in pending:
        for statement in migration.statements:
            cursor.execute(statement)
        cursor.execute(
            "INSERT INTO tmem_migrations (version, name) VALUES (%s, %s)",
            (migration.version, migration.name),
        )
    set_meta(cursor, SCHEMA_VERSION_KEY, str(len(MIGRATIONS)))
    cursor.execute(
        "INSERT INTO tmem_meta (key, value) VALUES ('tmem_version', %s)"
        " ON CONFLICT (key) DO NOTHING",
        (tmem_version,),
    )
    return [migration_name(migration) for migration in pending]


def set_meta(cursor: Cursor, key: str, value: str) -> None:
    cursor.execute(
        "INSERT INTO tmem_meta (key, value) VALUES (%s, %s)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def read_meta(cursor: Cursor) -> dict[str, str]:
    cursor.execute("SELECT key, value FROM tmem_meta")
    return {str(key): str(value) for key, value in cursor.fetchall()}


def bound_embedder(meta: dict[str, str]) -> tuple[str, int] | None:
    name, dim = meta.get("embedder_name"), meta.get("embedder_dim")
    return (name, int(dim)) if name is not None and dim is not None else None


def vector_dim(meta: dict[str, str]) -> int | None:
    """The dimension of the vector table, None while it does not exist."""
    dim = meta.get("vector_dim")
    return int(dim) if dim is not None else None


def bind(cursor: Cursor, embedder: tuple[str, int], where: str) -> None:
    """Record ``embedder`` on first use and make its vector table.

    Raises:
        EmbedderMismatchError: the database is bound to another embedder or dimension.
    """
    lock_schema(cursor)
    meta = read_meta(cursor)
    bound = bound_embedder(meta)
    table_dim = vector_dim(meta)
    if bound is None and table_dim in (None, embedder[1]):
        set_meta(cursor, "embedder_name", embedder[0])
        set_meta(cursor, "embedder_dim", str(embedder[1]))
        ensure_vector_table(cursor, embedder[1])
    elif bound != embedder:
        held = f"{bound[0]} (dim {bound[1]})" if bound else f"vectors of dim {table_dim}"
        raise EmbedderMismatchError(
            f"store {where} holds {held}, not {embedder[0]} (dim {embedder[1]});"
            " re-embed with `tmem reindex` or open another store"
        )


def ensure_vector_table(cursor: Cursor, dim: int) -> int:
    """Create the ``vector(dim)`` table unless it exists; return the table's dimension."""
    lock_schema(cursor)
    existing = vector_dim(read_meta(cursor))
    if existing is not None:
        return existing
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", (VECTOR_TABLE,))
    row = cursor.fetchone()
    if row is not None and row[0]:
        raise StoreError(f"{VECTOR_TABLE} exists but tmem_meta has no vector_dim")
    for statement in vector_table_ddl(dim):
        cursor.execute(statement)
    set_meta(cursor, "vector_dim", str(dim))
    return dim


def writable_dim(cursor: Cursor, vectors: Sequence[VectorRow]) -> int | None:
    """The vector table's dimension, creating the table from ``vectors[0]`` if needed.

    Read each time, not cached: a transaction that created the table may still roll back.
    """
    dim = vector_dim(read_meta(cursor))
    if dim is None and vectors:
        checked_vector(vectors[0], None)
        dim = ensure_vector_table(cursor, len(vectors[0].vector))
    return dim
