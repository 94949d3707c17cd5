"""The SQLite schema: the named, ordered migrations (applied by :mod:`.migrate`).

Every table carries ``user_id`` first in its primary key, so every index is scoped by user
and a query without the user predicate has no index to use. Migrations are applied in one
``BEGIN IMMEDIATE`` transaction: a crash leaves the old schema or the new one, never half.
"""

from __future__ import annotations

import sqlite3
import zlib

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

FTS_SHARDS = 32
"""The full-text index is split into this many FTS5 tables; a user's rows live in one of them.

Erasing text from an FTS5 index on SQLite before 3.44 means merging the whole table
(``optimize``); with shards a deletion merges one shard, a thirty-second of the store, and
other tenants' writes wait that much less. Fixed for the life of a store (rows are placed by
it): changing it needs a migration that moves rows.
"""


def fts_shard(user_id: str) -> int:
    """The shard holding ``user_id``'s full-text rows (stable across processes and versions)."""
    return zlib.crc32(user_id.encode("utf-8")) % FTS_SHARDS


def fts_table(user_id: str) -> str:
    """The FTS5 table holding ``user_id``'s rows."""
    return shard_table(fts_shard(user_id))


def shard_table(shard: int) -> str:
    return f"fts_{shard:02d}"


def fts_tables() -> list[str]:
    """Every shard's FTS5 table, in shard order."""
    return [shard_table(shard) for shard in range(FTS_SHARDS)]


def _fts_shards() -> tuple[str, ...]:
    statements = [
        # One pass over the old index to place each row, then each shard copies its rows by rowid.
        """CREATE TEMP TABLE fts_move AS SELECT rowid AS doc, tmem_fts_shard(user_id) AS shard
            FROM fts""",
        """CREATE INDEX temp.fts_move_by_shard ON fts_move (shard, doc)""",
    ]
    for table in fts_tables():
        statements.append(
            f"""CREATE VIRTUAL TABLE {table} USING fts5(
            body, scope, user_id UNINDEXED, kind UNINDEXED, owner_id UNINDEXED,
            tokenize = 'porter unicode61'
        )"""
        )
    for shard, table in enumerate(fts_tables()):
        statements.append(
            f"""INSERT INTO {table} (rowid, body, scope, user_id, kind, owner_id)
            SELECT rowid, body, scope, user_id, kind, owner_id FROM fts
            WHERE rowid IN (SELECT doc FROM fts_move WHERE shard = {shard})"""
        )
    statements += ["""DROP TABLE fts_move""", """DROP TABLE fts_terms""", """DROP TABLE fts"""]
    return tuple(statements)


def _fts_lengths() -> tuple[str, ...]:
    # BM25 normalises a row's length by the average length of the user's own rows, so other
    # tenants' text never moves a user's scores. Counted per kind: search sums the kinds today.
    statements = [
        """CREATE TABLE fts_lengths (
            user_id TEXT NOT NULL, kind TEXT NOT NULL,
            rows INTEGER NOT NULL, tokens INTEGER NOT NULL,
            PRIMARY KEY (user_id, kind)
        ) WITHOUT ROWID"""
    ]
    statements += [
        f"""INSERT INTO fts_lengths (user_id, kind, rows, tokens)
            SELECT user_id, kind, count(*), sum(tmem_fts_length(body)) FROM {table}
            GROUP BY user_id, kind"""
        for table in fts_tables()
    ]
    return tuple(statements)


# Persona entries (issue: the API people expect): one row per entry, with an id, a pin and who
# wrote it, instead of one row per speaker. Each stored profile becomes model-written entries
# in profile order, ids from ``tmem_persona_id`` (the digest the Postgres migration and the
# import of an older export compute too), each with the source turns its profile recorded.
_PROFILE_ENTRIES = """
    SELECT p.user_id, p.speaker, p.updated_at, p.sources, 0 AS rank, i.key AS k1, 0 AS k2,
        'identity' AS section, json_extract(i.value, '$[0]') AS key,
        json_extract(i.value, '$[1]') AS value
    FROM personas AS p, json_each(p.identity) AS i
    UNION ALL
    SELECT p.user_id, p.speaker, p.updated_at, p.sources, 1, k.key, v.key, 'preferences',
        json_extract(k.value, '$[0]'), v.value
    FROM personas AS p, json_each(p.preferences) AS k, json_each(k.value, '$[1]') AS v
    UNION ALL
    SELECT p.user_id, p.speaker, p.updated_at, p.sources, 2, k.key, v.key, 'traits',
        json_extract(k.value, '$[0]'), v.value
    FROM personas AS p, json_each(p.traits) AS k, json_each(k.value, '$[1]') AS v
    UNION ALL
    SELECT p.user_id, p.speaker, p.updated_at, p.sources, 3, r.key, 0, 'relations',
        json_extract(r.value, '$[0]'), json_extract(r.value, '$[1]')
    FROM personas AS p, json_each(p.relations) AS r
"""
_PERSONA_ENTRIES: tuple[str, ...] = (
    """CREATE TABLE persona_entries (
        user_id TEXT NOT NULL, id TEXT NOT NULL, speaker TEXT NOT NULL,
        section TEXT NOT NULL
            CHECK (section IN ('identity', 'preferences', 'traits', 'relations')),
        key TEXT NOT NULL, value TEXT NOT NULL, source_turns TEXT NOT NULL,
        pinned INTEGER NOT NULL, origin TEXT NOT NULL CHECK (origin IN ('model', 'hand')),
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, position INTEGER NOT NULL,
        PRIMARY KEY (user_id, id)
    )""",
    """CREATE INDEX persona_entries_by_speaker ON persona_entries (user_id, speaker, position)""",
    f"""INSERT INTO persona_entries (user_id, id, speaker, section, key, value, source_turns,
            pinned, origin, created_at, updated_at, position)
        SELECT e.user_id, tmem_persona_id(e.speaker, e.section, e.key, e.value), e.speaker,
            e.section, e.key, e.value,
            coalesce((SELECT json_extract(s.value, '$[3]') FROM json_each(e.sources) AS s
                WHERE json_extract(s.value, '$[0]') = e.section
                AND json_extract(s.value, '$[1]') = e.key
                AND json_extract(s.value, '$[2]') = e.value LIMIT 1), '[]'),
            0, 'model',
            coalesce(e.updated_at, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
            coalesce(e.updated_at, strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
            row_number() OVER (PARTITION BY e.user_id, e.speaker
                ORDER BY e.rank, e.k1, e.k2) - 1
        FROM ({_PROFILE_ENTRIES}) AS e""",
    """DROP TABLE personas""",
)

# Extraction instructions a user gave (the deployment's are in the config): at most one row.
_INSTRUCTIONS: tuple[str, ...] = (
    """CREATE TABLE instructions (
        user_id TEXT PRIMARY KEY, text TEXT NOT NULL, updated_at TEXT NOT NULL
    )""",
)

# Pages walk scenes and items by creation order (tmem.store.keyset): a scene's or an item's
# time moves when it is extended or derived again, so keyset pages cannot rest on it. ``ord``
# comes from the store-wide counter ``meta.ord`` once, when a row is first written, and never
# changes; rows stored before take their rowid, which is their insertion order.
_PAGE_ORDER: tuple[str, ...] = (
    """ALTER TABLE scenes ADD COLUMN ord INTEGER NOT NULL DEFAULT 0""",
    """ALTER TABLE items ADD COLUMN ord INTEGER NOT NULL DEFAULT 0""",
    """UPDATE scenes SET ord = rowid""",
    """UPDATE items SET ord = rowid""",
    """INSERT INTO meta (key, value) SELECT 'ord', CAST(max(
        coalesce((SELECT max(ord) FROM scenes), 0), coalesce((SELECT max(ord) FROM items), 0)
    ) AS TEXT)""",
    """CREATE INDEX scenes_by_ord ON scenes (user_id, ord, id)""",
    """CREATE INDEX items_by_ord ON items (user_id, ord, id)""",
    # Export pages walk persona entries in the unpaged export's order (tmem.store.keyset).
    """CREATE INDEX persona_entries_by_page ON persona_entries (user_id, speaker, position, id)""",
)

MIGRATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0001_initial", _INITIAL),
    ("0002_service", _SERVICE),
    ("0003_fts_scope", _FTS_SCOPE),
    ("0004_persona_sources", _PERSONA_SOURCES),
    ("0005_risk_flags", _RISK_FLAGS),
    ("0006_fts_shards", _fts_shards()),
    ("0007_fts_lengths", _fts_lengths()),
    ("0008_persona_entries", _PERSONA_ENTRIES),
    ("0009_instructions", _INSTRUCTIONS),
    ("0010_page_order", _PAGE_ORDER),
)
"""Named migrations in order; the schema version is how many have been applied.

Append only: a released migration is never edited, since stores in the field already ran it.
"""

SCHEMA_VERSION = len(MIGRATIONS)

FTS5_SECURE_DELETE = sqlite3.sqlite_version_info >= (3, 44, 0)
"""FTS5's ``secure-delete`` option exists from SQLite 3.44; older builds compact instead."""
