"""The SQLite schema: named, ordered migrations, connection settings and the ``meta`` table.

Every table carries ``user_id`` first in its primary key, so every index is scoped by user
and a query without the user predicate has no index to use. Migrations are applied in one
``BEGIN IMMEDIATE`` transaction: a crash leaves the old schema or the new one, never half.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tmem.errors import SchemaVersionError, StoreError

_INITIAL: tuple[str, ...] = (
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    """CREATE TABLE users (
        user_id TEXT PRIMARY KEY,
        generation INTEGER NOT NULL,
        next_seq INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE turns (
        user_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
        session_id TEXT NOT NULL, speaker TEXT NOT NULL, content TEXT NOT NULL,
        timestamp TEXT NOT NULL, time_key INTEGER NOT NULL,
        scene_id TEXT, pending INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, id)
    )""",
    """CREATE INDEX turns_by_seq ON turns (user_id, seq, id)""",
    """CREATE INDEX turns_pending ON turns (user_id, seq) WHERE pending = 1""",
    """CREATE TABLE scenes (
        user_id TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT NULL,
        summary TEXT NOT NULL, narrative TEXT NOT NULL,
        timestamp TEXT NOT NULL, time_key INTEGER NOT NULL,
        session_ids TEXT NOT NULL, participants TEXT NOT NULL,
        provenance TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (user_id, id)
    )""",
    """CREATE INDEX scenes_by_time ON scenes (user_id, time_key, id)""",
    """CREATE TABLE items (
        user_id TEXT NOT NULL, id TEXT NOT NULL, content TEXT NOT NULL,
        timestamp TEXT NOT NULL, time_key INTEGER NOT NULL, scene_ids TEXT NOT NULL,
        temporal TEXT NOT NULL, spatial TEXT NOT NULL,
        keywords TEXT NOT NULL, query_patterns TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('active', 'superseded')),
        superseded_by TEXT, provenance TEXT NOT NULL, version INTEGER NOT NULL,
        PRIMARY KEY (user_id, id)
    )""",
    """CREATE INDEX items_by_time ON items (user_id, time_key, id)""",
    """CREATE TABLE memory_sources (
        user_id TEXT NOT NULL, memory_id TEXT NOT NULL, position INTEGER NOT NULL,
        turn_id TEXT NOT NULL,
        PRIMARY KEY (user_id, memory_id, position)
    )""",
    """CREATE INDEX memory_sources_by_turn ON memory_sources (user_id, turn_id)""",
    """CREATE TABLE triggers (
        user_id TEXT NOT NULL, id TEXT NOT NULL, family TEXT NOT NULL,
        text TEXT NOT NULL, facet TEXT NOT NULL, provenance TEXT NOT NULL,
        PRIMARY KEY (user_id, id)
    )""",
    """CREATE TABLE trigger_targets (
        user_id TEXT NOT NULL, trigger_id TEXT NOT NULL, position INTEGER NOT NULL,
        memory_id TEXT NOT NULL, confidence REAL NOT NULL,
        PRIMARY KEY (user_id, trigger_id, position),
        FOREIGN KEY (user_id, trigger_id) REFERENCES triggers (user_id, id) ON DELETE CASCADE
    )""",
    """CREATE INDEX trigger_targets_by_memory ON trigger_targets (user_id, memory_id)""",
    """CREATE TABLE vectors (
        user_id TEXT NOT NULL, space TEXT NOT NULL, owner_id TEXT NOT NULL,
        dim INTEGER NOT NULL, vector BLOB NOT NULL,
        PRIMARY KEY (user_id, space, owner_id)
    )""",
    """CREATE INDEX vectors_by_owner ON vectors (user_id, owner_id)""",
    """CREATE TABLE fts_docs (
        doc INTEGER PRIMARY KEY, user_id TEXT NOT NULL, owner_id TEXT NOT NULL,
        UNIQUE (user_id, owner_id)
    )""",
    """CREATE VIRTUAL TABLE fts USING fts5(
        body, user_id UNINDEXED, kind UNINDEXED, owner_id UNINDEXED,
        tokenize = 'porter unicode61'
    )""",
    """CREATE TABLE history (
        user_id TEXT NOT NULL, memory_id TEXT NOT NULL, version INTEGER NOT NULL,
        event TEXT NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL, detail TEXT NOT NULL,
        PRIMARY KEY (user_id, memory_id, version)
    )""",
    """CREATE TABLE personas (
        user_id TEXT NOT NULL, speaker TEXT NOT NULL,
        identity TEXT NOT NULL, preferences TEXT NOT NULL, traits TEXT NOT NULL,
        relations TEXT NOT NULL, updated_at TEXT,
        PRIMARY KEY (user_id, speaker)
    )""",
)

# Times are UTC ISO 8601 with microseconds (``service_time``), so text order is time order.
_SERVICE: tuple[str, ...] = (
    """CREATE TABLE jobs (
        user_id TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL,
        kind TEXT NOT NULL, payload TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0, run_at TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        worker_id TEXT, lease_until TEXT, result TEXT, error TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (user_id, id)
    )""",
    """CREATE UNIQUE INDEX jobs_by_id ON jobs (id)""",
    """CREATE UNIQUE INDEX jobs_by_seq ON jobs (seq)""",
    """CREATE INDEX jobs_due ON jobs (run_at, seq) WHERE status IN ('queued', 'running')""",
    # Keys belong to a tenant, not a user: the service looks one up before it knows either.
    """CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL, revoked_at TEXT, label TEXT NOT NULL DEFAULT ''
    )""",
    """CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at)""",
    """CREATE TABLE idempotency (
        tenant TEXT NOT NULL, key TEXT NOT NULL, request_hash TEXT NOT NULL,
        status INTEGER NOT NULL, response TEXT NOT NULL, created_at TEXT NOT NULL,
        PRIMARY KEY (tenant, key)
    )""",
)

# BM25 filtered by an UNINDEXED user column walks every user's postings for each query word;
# an indexed scope token (one per user and kind) lets FTS5 intersect with the user's rows
# instead (docs/scaling.md). The rebuild keeps every rowid, so fts_docs stays valid.
_FTS_SCOPE: tuple[str, ...] = (
    """CREATE VIRTUAL TABLE fts_scoped USING fts5(
        body, scope, user_id UNINDEXED, kind UNINDEXED, owner_id UNINDEXED,
        tokenize = 'porter unicode61'
    )""",
    """INSERT INTO fts_scoped (rowid, body, scope, user_id, kind, owner_id)
        SELECT rowid, body, 'u' || hex(user_id) || 'x' || kind, user_id, kind, owner_id FROM fts""",
    """DROP TABLE fts""",
    """ALTER TABLE fts_scoped RENAME TO fts""",
    """CREATE VIRTUAL TABLE fts_terms USING fts5vocab(fts, row)""",
)

# Persona entries name the turns they rest on, so forgetting a turn can remove them.
_PERSONA_SOURCES: tuple[str, ...] = (
    """ALTER TABLE personas ADD COLUMN sources TEXT NOT NULL DEFAULT '[]'""",
)

# Injection flags (issue 20): an append-only log per memory; the newest version is current.
_RISK_FLAGS: tuple[str, ...] = (
    """CREATE TABLE risk_flags (
        user_id TEXT NOT NULL, memory_id TEXT NOT NULL, version INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('flagged', 'confirmed', 'cleared')),
        reasons TEXT NOT NULL, at TEXT NOT NULL, source TEXT NOT NULL, note TEXT NOT NULL,
        PRIMARY KEY (user_id, memory_id, version)
    )""",
)

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0001_initial", _INITIAL),
    ("0002_service", _SERVICE),
    ("0003_fts_scope", _FTS_SCOPE),
    ("0004_persona_sources", _PERSONA_SOURCES),
    ("0005_risk_flags", _RISK_FLAGS),
)
"""Named migrations in order; the schema version is how many have been applied.

Append only: a released migration is never edited, since stores in the field already ran it.
"""

SCHEMA_VERSION = len(MIGRATIONS)

FTS5_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 44, 0)
"""FTS5's ``secure-delete`` option exists from SQLite 3.44; older builds compact instead."""


@dataclass(frozen=True)
class StoreMeta:
    """What the ``meta`` table says about a store."""

    schema_version: int
    embedder: tuple[str, int] | None
    tmem_version: str
    created_at: str


def connect(path: str, *, durable: bool) -> sqlite3.Connection:
    """Open ``path`` with tmem's settings; refuse files that are not SQLite databases.

    Raises:
        StoreError: the file cannot be opened or is not a SQLite database.
    """
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _configure(conn, in_memory=path == ":memory:", durable=durable)
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(f"{path!r} is not a usable SQLite database: {exc}") from exc
    return conn


BUSY_TIMEOUT_S = 5.0
"""How long a statement waits for another connection's lock before it fails."""

_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})


def _configure(conn: sqlite3.Connection, *, in_memory: bool, durable: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    if not in_memory:
        enable_wal(conn, BUSY_TIMEOUT_S)
    # NORMAL survives application crashes; FULL also keeps every acknowledged commit through
    # power loss, at the price of an fsync per commit.
    conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")


def enable_wal(conn: sqlite3.Connection, budget_s: float) -> None:
    """Put the file in WAL mode, retrying while other connections hold it, for ``budget_s``.

    Converting needs the file to itself, and SQLite fails a conversion that would wait on
    another connection's lock at once, without its busy handler: two processes opening a new
    store together would see "database is locked". WAL is a property of the file, so the mode
    is read first and an open after the first converts nothing and takes no lock.

    Raises:
        sqlite3.OperationalError: the file stayed locked for the whole budget.
    """
    deadline = time.monotonic() + budget_s
    delay = 0.002
    while True:
        try:
            if _journal_mode(conn, "PRAGMA journal_mode") == "wal":
                return
            if _journal_mode(conn, "PRAGMA journal_mode = WAL") == "wal":
                return
            refused: sqlite3.OperationalError | None = None
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF not in _BUSY_CODES:  # the primary code
                raise
            refused = exc
        if time.monotonic() >= deadline:
            raise refused or sqlite3.OperationalError("the file refused WAL mode")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _journal_mode(conn: sqlite3.Connection, statement: str) -> str:
    row = conn.execute(statement).fetchone()
    return str(row[0]).lower() if row else ""


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
    return [name for name, _ in MIGRATIONS[len(applied) :]]


def inspect_file(path: str) -> tuple[int, list[str]]:
    """The schema version of the store at ``path`` and its pending migrations; writes nothing.

    A missing file (or ``:memory:``) is a new store: version 0, every migration pending.

    Raises:
        SchemaVersionError: the file was written by a newer tmem.
        StoreError: the file cannot be read or is not a tmem store.
    """
    if path == ":memory:" or not Path(path).exists():
        return 0, [name for name, _ in MIGRATIONS]
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open store {path!r}: {exc}") from exc
    try:
        pending = pending_migrations(conn)
        return len(MIGRATIONS) - len(pending), pending
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
    if "fts_config" in tables:
        _refuse_newer_fts(conn)
    applied = _applied(conn)
    _refuse_unknown(applied, f"this tmem ({tmem_version})")
    pending = MIGRATIONS[len(applied) :]
    for seq, (name, statements) in enumerate(pending, start=len(applied)):
        _apply(conn, statements)
        conn.execute(
            "INSERT INTO migrations (seq, name, applied_at) VALUES (?, ?, ?)",
            (seq, name, created_at),
        )
    _write_meta_defaults(conn, tmem_version=tmem_version, created_at=created_at)
    return [name for name, _ in pending]


def _refuse_newer_fts(conn: sqlite3.Connection) -> None:
    """A store whose FTS5 index was written with ``secure-delete`` needs SQLite 3.44+."""
    row = conn.execute("SELECT v FROM fts_config WHERE k = 'version'").fetchone()
    if row is not None and int(row[0]) >= 5 and not FTS5_SECURE_DELETE:
        raise StoreError(
            "this store's full-text index was written by SQLite 3.44 or newer (FTS5"
            f" secure-delete); this Python's sqlite3 is {sqlite3.sqlite_version}: open the"
            " store with a Python whose sqlite3 is 3.44 or newer"
        )


def _refuse_unknown(applied: list[str], who: str) -> None:
    known = [name for name, _ in MIGRATIONS]
    if applied != known[: len(applied)]:
        raise SchemaVersionError(
            f"store has migrations {applied} that {who} does not know; upgrade tmem to open it"
        )


def _refuse_newer(conn: sqlite3.Connection, tmem_version: str) -> None:
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if row is not None and int(row[0]) > len(MIGRATIONS):
        raise SchemaVersionError(
            f"store schema version {row[0]} is newer than this tmem ({tmem_version}) understands"
            f" ({len(MIGRATIONS)}); upgrade tmem to open it"
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
        (str(len(MIGRATIONS)),),
    )
    if FTS5_SECURE_DELETE:
        conn.execute("INSERT INTO fts (fts, rank) VALUES ('secure-delete', 1)")


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
