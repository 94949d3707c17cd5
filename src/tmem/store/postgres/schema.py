"""DDL for the Postgres store: ordered, named migrations plus the vector table made at bind time.

Every tenant table has ``user_id`` first in its primary key and in every unique constraint, so
the schema distributes on Citus by ``user_id`` unchanged (see docs/postgres.md). Every tenant
table also has a Row-Level Security policy keyed on the ``tmem.user_id`` setting, forced so that
it binds the table owner too; the store sets that setting at the start of every transaction and
filters by ``user_id`` explicitly as well.

The vector table is not a migration: its ``vector(dim)`` column needs the embedder's dimension,
which the store learns in ``bind_embedder`` (or from the first vector it is asked to write).
"""

from __future__ import annotations

from dataclasses import dataclass

from tmem.store.base import SPACES

SCHEMA_VERSION_KEY = "schema_version"
VECTOR_TABLE = "tmem_vectors"
MIGRATION_LOCK = 0x746D656D  # "tmem": the advisory lock every schema change holds
TENANT_SETTING = "tmem.user_id"


@dataclass(frozen=True)
class Migration:
    """One schema step: applied once, in ``version`` order, inside one transaction."""

    version: int
    name: str
    statements: tuple[str, ...]


def tenant_policy(table: str) -> tuple[str, ...]:
    """Statements that confine ``table`` to the rows of the ``tmem.user_id`` setting."""
    return (
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant ON {table} "
        f"USING (user_id = current_setting('{TENANT_SETTING}', true)) "
        f"WITH CHECK (user_id = current_setting('{TENANT_SETTING}', true))",
    )


_TIME = "timestamptz NOT NULL, {0}_offset integer NOT NULL"  # the instant and its UTC offset
_PROVENANCE = "method text NOT NULL, model text NOT NULL"

_TABLES = (
    """CREATE TABLE tmem_meta (key text PRIMARY KEY, value text NOT NULL)""",
    # Insertion order of scenes and items: the last of equal-time scenes is the newest.
    "CREATE SEQUENCE tmem_ord",
    """CREATE TABLE tmem_users (
        user_id text PRIMARY KEY, next_seq bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now())""",
    f"""CREATE TABLE tmem_turns (
        user_id text NOT NULL, id text NOT NULL, session_id text NOT NULL, seq bigint NOT NULL,
        speaker text NOT NULL, content text NOT NULL, ts {_TIME.format("ts")},
        scene_id text, pending boolean NOT NULL DEFAULT false,
        tsv tsvector GENERATED ALWAYS AS
            (to_tsvector('english'::regconfig, speaker || ' ' || content)) STORED,
        PRIMARY KEY (user_id, id))""",
    "CREATE INDEX tmem_turns_seq ON tmem_turns (user_id, seq)",
    "CREATE INDEX tmem_turns_tsv ON tmem_turns USING gin (tsv)",
    f"""CREATE TABLE tmem_scenes (
        user_id text NOT NULL, id text NOT NULL, title text NOT NULL, summary text NOT NULL,
        narrative text NOT NULL, ts {_TIME.format("ts")},
        source_turns text[] NOT NULL, session_ids text[] NOT NULL, participants text[] NOT NULL,
        {_PROVENANCE}, version integer NOT NULL, ord bigint NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english'::regconfig,
            title || ' ' || summary || ' ' || narrative)) STORED,
        PRIMARY KEY (user_id, id))""",
    "CREATE INDEX tmem_scenes_ts ON tmem_scenes (user_id, ts, ord)",
    "CREATE INDEX tmem_scenes_turns ON tmem_scenes USING gin (source_turns)",
    "CREATE INDEX tmem_scenes_tsv ON tmem_scenes USING gin (tsv)",
    f"""CREATE TABLE tmem_items (
        user_id text NOT NULL, id text NOT NULL, content text NOT NULL, ts {_TIME.format("ts")},
        scene_ids text[] NOT NULL, source_turns text[] NOT NULL, temporal text NOT NULL,
        spatial text NOT NULL, keywords text[] NOT NULL, query_patterns text[] NOT NULL,
        status text NOT NULL, superseded_by text, {_PROVENANCE}, version integer NOT NULL,
        ord bigint NOT NULL, search_text text NOT NULL,
        tsv tsvector GENERATED ALWAYS AS
            (to_tsvector('english'::regconfig, search_text)) STORED,
        PRIMARY KEY (user_id, id))""",
    "CREATE INDEX tmem_items_ts ON tmem_items (user_id, ts, ord)",
    "CREATE INDEX tmem_items_turns ON tmem_items USING gin (source_turns)",
    "CREATE INDEX tmem_items_scenes ON tmem_items USING gin (scene_ids)",
    "CREATE INDEX tmem_items_tsv ON tmem_items USING gin (tsv)",
    f"""CREATE TABLE tmem_triggers (
        user_id text NOT NULL, id text NOT NULL, family text NOT NULL, facet text NOT NULL,
        text text NOT NULL, {_PROVENANCE},
        PRIMARY KEY (user_id, id))""",
    """CREATE TABLE tmem_trigger_targets (
        user_id text NOT NULL, trigger_id text NOT NULL, position integer NOT NULL,
        memory_id text NOT NULL, confidence double precision NOT NULL,
        PRIMARY KEY (user_id, trigger_id, position),
        FOREIGN KEY (user_id, trigger_id) REFERENCES tmem_triggers ON DELETE CASCADE)""",
    "CREATE INDEX tmem_targets_memory ON tmem_trigger_targets (user_id, memory_id)",
    """CREATE TABLE tmem_personas (
        user_id text NOT NULL, speaker text NOT NULL, profile jsonb NOT NULL,
        PRIMARY KEY (user_id, speaker))""",
    f"""CREATE TABLE tmem_history (
        user_id text NOT NULL, memory_id text NOT NULL, version integer NOT NULL,
        event text NOT NULL, text text NOT NULL, at {_TIME.format("at")}, detail text NOT NULL,
        PRIMARY KEY (user_id, memory_id, version))""",
    """CREATE TABLE tmem_jobs (
        user_id text NOT NULL, id text NOT NULL,
        seq bigint GENERATED ALWAYS AS IDENTITY, kind text NOT NULL, payload jsonb NOT NULL,
        status text NOT NULL, attempts integer NOT NULL DEFAULT 0,
        run_at timestamptz NOT NULL, created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL, worker_id text, lease_until timestamptz,
        result jsonb, error text NOT NULL DEFAULT '',
        PRIMARY KEY (user_id, id))""",
    "CREATE INDEX tmem_jobs_id ON tmem_jobs (id)",
    """CREATE INDEX tmem_jobs_due ON tmem_jobs (run_at, seq)
        WHERE status IN ('queued', 'running')""",
)

_INITIAL_TENANT_TABLES: tuple[str, ...] = (
    "tmem_turns",
    "tmem_scenes",
    "tmem_items",
    "tmem_triggers",
    "tmem_trigger_targets",
    "tmem_personas",
    "tmem_history",
)
"""The tables migration 1 put under Row-Level Security (``tmem_personas`` is gone since 4)."""

TENANT_TABLES: tuple[str, ...] = (
    "tmem_turns",
    "tmem_scenes",
    "tmem_items",
    "tmem_triggers",
    "tmem_trigger_targets",
    "tmem_history",
    "tmem_risk_flags",
    "tmem_persona_entries",
    "tmem_instructions",
)
"""Tables under Row-Level Security now. ``tmem_users`` (ids only) and ``tmem_jobs`` (the queue
workers claim from across users) are not; ``get_job`` still filters jobs by ``user_id``."""

# Keys and idempotency records belong to a tenant, not a user (a key is looked up before the
# request's user is known), so they sit outside the per-user Row-Level Security.
_SERVICE_TABLES = (
    """CREATE TABLE tmem_api_keys (
        id text PRIMARY KEY, tenant text NOT NULL, hash text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL, revoked_at timestamptz,
        label text NOT NULL DEFAULT '')""",
    "CREATE INDEX tmem_api_keys_tenant ON tmem_api_keys (tenant, created_at)",
    """CREATE TABLE tmem_idempotency (
        tenant text NOT NULL, key text NOT NULL, request_hash text NOT NULL,
        status integer NOT NULL, response jsonb NOT NULL, created_at timestamptz NOT NULL,
        PRIMARY KEY (tenant, key))""",
    "CREATE INDEX tmem_idempotency_age ON tmem_idempotency (created_at)",
)

VECTOR_PAGE_INDEX = (
    'CREATE INDEX IF NOT EXISTS tmem_vectors_page ON tmem_vectors (user_id, space COLLATE "C",'
    ' owner_id COLLATE "C")'
)
"""The vector table's page index (:mod:`tmem.store.keyset`); that table is made at bind time."""

# Keyset pages (tmem.store.keyset) read each section as one range scan of an index on
# (user_id, key...) in the key's bytewise order. IF NOT EXISTS: an operator may build them with
# CREATE INDEX CONCURRENTLY beforehand, under these names, and the migration skips them. The
# turns' page index covers every query the old (user_id, seq) one served.
_PAGE_INDEXES = (
    'CREATE INDEX IF NOT EXISTS tmem_turns_page ON tmem_turns (user_id, seq, id COLLATE "C")',
    "DROP INDEX IF EXISTS tmem_turns_seq",
    'CREATE INDEX IF NOT EXISTS tmem_scenes_page ON tmem_scenes (user_id, ord, id COLLATE "C")',
    'CREATE INDEX IF NOT EXISTS tmem_items_page ON tmem_items (user_id, ord, id COLLATE "C")',
    'CREATE INDEX IF NOT EXISTS tmem_triggers_page ON tmem_triggers (user_id, id COLLATE "C")',
    "CREATE INDEX IF NOT EXISTS tmem_persona_entries_page ON tmem_persona_entries"
    ' (user_id, speaker COLLATE "C", position, id COLLATE "C")',
    "CREATE INDEX IF NOT EXISTS tmem_history_page ON tmem_history"
    ' (user_id, memory_id COLLATE "C", version)',
    f"""DO $$ BEGIN
        IF to_regclass('{VECTOR_TABLE}') IS NOT NULL THEN {VECTOR_PAGE_INDEX}; END IF;
    END $$""",
)

# Persona entries: one row per entry (an id, a pin, who wrote it) instead of one profile per
# speaker. The copy reads every user's profiles, which the forced Row-Level Security would hide
# from the migrating role (the owner), so FORCE is lifted from the old table first; the new
# table gets its policy once filled. Ids are legacy_entry_id's digest, as SQLite's migration
# and the import of an older export compute it.
_ENTRY_ID = (
    "'per_' || left(encode(sha256(convert_to(e.speaker || chr(31) || e.section || chr(31)"
    " || e.key || chr(31) || e.value, 'UTF8')), 'hex'), 16)"
)
_OFFSET = (
    "CASE WHEN e.at ~ '[+-][0-9]{2}:[0-9]{2}$' THEN"
    " (CASE WHEN substr(e.at, length(e.at) - 5, 1) = '-' THEN -1 ELSE 1 END)"
    " * (substr(e.at, length(e.at) - 4, 2)::integer * 3600"
    " + substr(e.at, length(e.at) - 1, 2)::integer * 60) ELSE 0 END"
)
_PROFILE_ENTRIES = """
    SELECT p.user_id, p.speaker, p.profile, p.profile->>'updated_at' AS at, 0 AS rank,
        i.n AS k1, 0::bigint AS k2, 'identity' AS section, i.pair->>0 AS key,
        i.pair->>1 AS value
    FROM tmem_personas AS p,
        jsonb_array_elements(p.profile->'identity') WITH ORDINALITY AS i(pair, n)
    UNION ALL
    SELECT p.user_id, p.speaker, p.profile, p.profile->>'updated_at', 1, k.n, v.n,
        'preferences', k.pair->>0, v.value
    FROM tmem_personas AS p,
        jsonb_array_elements(p.profile->'preferences') WITH ORDINALITY AS k(pair, n),
        jsonb_array_elements_text(k.pair->1) WITH ORDINALITY AS v(value, n)
    UNION ALL
    SELECT p.user_id, p.speaker, p.profile, p.profile->>'updated_at', 2, k.n, v.n, 'traits',
        k.pair->>0, v.value
    FROM tmem_personas AS p,
        jsonb_array_elements(p.profile->'traits') WITH ORDINALITY AS k(pair, n),
        jsonb_array_elements_text(k.pair->1) WITH ORDINALITY AS v(value, n)
    UNION ALL
    SELECT p.user_id, p.speaker, p.profile, p.profile->>'updated_at', 3, r.n, 0, 'relations',
        r.pair->>0, r.pair->>1
    FROM tmem_personas AS p,
        jsonb_array_elements(p.profile->'relations') WITH ORDINALITY AS r(pair, n)
"""
_SOURCES = """coalesce((SELECT array_agg(t.turn ORDER BY t.n)
        FROM jsonb_array_elements(coalesce(e.profile->'sources', '[]'::jsonb)) AS s(src),
            jsonb_array_elements_text(s.src->3) WITH ORDINALITY AS t(turn, n)
        WHERE s.src->>0 = e.section AND s.src->>1 = e.key AND s.src->>2 = e.value),
        '{}'::text[])"""
_PERSONA_ENTRIES = (
    f"""CREATE TABLE tmem_persona_entries (
        user_id text NOT NULL, id text NOT NULL, speaker text NOT NULL,
        section text NOT NULL
            CHECK (section IN ('identity', 'preferences', 'traits', 'relations')),
        key text NOT NULL, value text NOT NULL, source_turns text[] NOT NULL,
        pinned boolean NOT NULL, origin text NOT NULL CHECK (origin IN ('model', 'hand')),
        created_at {_TIME.format("created_at")}, updated_at {_TIME.format("updated_at")},
        position integer NOT NULL,
        PRIMARY KEY (user_id, id))""",
    "CREATE INDEX tmem_persona_speaker ON tmem_persona_entries (user_id, speaker, position)",
    "ALTER TABLE tmem_personas NO FORCE ROW LEVEL SECURITY",
    f"""INSERT INTO tmem_persona_entries (user_id, id, speaker, section, key, value,
            source_turns, pinned, origin, created_at, created_at_offset, updated_at,
            updated_at_offset, position)
        SELECT e.user_id, {_ENTRY_ID}, e.speaker, e.section, e.key, e.value, {_SOURCES},
            false, 'model', coalesce(e.at::timestamptz, now()), {_OFFSET},
            coalesce(e.at::timestamptz, now()), {_OFFSET},
            (row_number() OVER (PARTITION BY e.user_id, e.speaker
                ORDER BY e.rank, e.k1, e.k2) - 1)::integer
        FROM ({_PROFILE_ENTRIES}) AS e""",
    "DROP TABLE tmem_personas",
    *tenant_policy("tmem_persona_entries"),
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial",
        (
            *_TABLES,
            *(statement for table in _INITIAL_TENANT_TABLES for statement in tenant_policy(table)),
        ),
    ),
    Migration(2, "service", _SERVICE_TABLES),
    Migration(
        3,
        "risk_flags",
        (
            f"""CREATE TABLE tmem_risk_flags (
                user_id text NOT NULL, memory_id text NOT NULL, version integer NOT NULL,
                status text NOT NULL CHECK (status IN ('flagged', 'confirmed', 'cleared')),
                reasons jsonb NOT NULL, at {_TIME.format("at")}, source text NOT NULL,
                note text NOT NULL,
                PRIMARY KEY (user_id, memory_id, version))""",
            *tenant_policy("tmem_risk_flags"),
        ),
    ),
    Migration(4, "persona_entries", _PERSONA_ENTRIES),
    Migration(
        5,
        "instructions",
        (
            f"""CREATE TABLE tmem_instructions (
                user_id text NOT NULL, text text NOT NULL, updated_at {_TIME.format("updated_at")},
                PRIMARY KEY (user_id))""",
            *tenant_policy("tmem_instructions"),
        ),
    ),
    Migration(6, "page_indexes", _PAGE_INDEXES),
)
"""Append only: a released migration is never edited, since databases in the field ran it."""


def vector_table_ddl(dim: int) -> tuple[str, ...]:
    """The vector table for ``dim``-dimensional embeddings, one HNSW index per space.

    A partial index per space keeps each graph to one kind of text; queries name the space as a
    literal so the planner can match the index predicate.
    """
    indexes = tuple(
        f"CREATE INDEX {VECTOR_TABLE}_{space}_hnsw ON {VECTOR_TABLE} "
        f"USING hnsw (embedding vector_cosine_ops) WHERE space = '{space}'"
        for space in SPACES
    )
    return (
        f"""CREATE TABLE {VECTOR_TABLE} (
            user_id text NOT NULL, space text NOT NULL, owner_id text NOT NULL,
            embedding vector({int(dim)}) NOT NULL,
            PRIMARY KEY (user_id, space, owner_id))""",
        f"CREATE INDEX {VECTOR_TABLE}_owner ON {VECTOR_TABLE} (user_id, owner_id)",
        VECTOR_PAGE_INDEX,
        *indexes,
        *tenant_policy(VECTOR_TABLE),
    )
