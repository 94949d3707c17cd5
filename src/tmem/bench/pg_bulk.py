"""Bulk-load a seeded workload into Postgres: the rows ``Memory.add`` writes, through ``COPY``.

Loading 1M memories through :meth:`Memory.add` runs at ~42 turns/s on Postgres (mostly pgvector
keeping two HNSW graphs current on every insert), about 6.5 hours. Here the same ingestion code
runs against an in-memory stand-in for the store: :class:`~tmem.ingest.pipeline.Ingestor` in
LLM-free mode turns each session into the very ``WriteBatch`` it would hand to
``PostgresStore.write``, :func:`tmem.store.postgres.bulk.user_rows` turns those batches into the
rows ``apply_batch`` would leave, and ``COPY`` streams them in. The load is one transaction:
the tables' secondary indexes (HNSW, GIN, B-tree) are dropped first and rebuilt from their own
definitions afterwards with a large ``maintenance_work_mem``, then ``VACUUM (ANALYZE)`` runs so
that neither stale statistics nor an autovacuum pass lands in the timed searches.

``COPY FROM`` refuses tables whose Row-Level Security applies to the loading role, and tmem
forces RLS even for the owner; the load lifts ``FORCE`` on the loaded tables and restores it
before its transaction commits, so no other session ever sees the tables unforced. The role
must own the tables (as the one that migrated them does). The database must hold no users yet.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, cast

import psycopg
from psycopg import sql

from tmem.bench.measure import load_average
from tmem.bench.speed import Progress, SpeedParams, SystemResult, Workload
from tmem.clock import SystemClock
from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.errors import StoreError
from tmem.ingest.pipeline import Ingestor
from tmem.models import Scene, Turn
from tmem.store.base import Store, WriteBatch
from tmem.store.postgres import PostgresStore
from tmem.store.postgres.bulk import BINARY_TYPES, COPY_COLUMNS, TableRows, user_rows
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.migrate import read_meta, vector_dim

Messages = Sequence[Mapping[str, Any]]
Sessions = Callable[[str], Sequence[tuple[str, Messages]]]
"""A user's sessions in ``Memory.add`` order, each a session id and its messages."""

FLUSH_ROWS = 20_000
"""Rows buffered before a round of ``COPY`` statements (a few tens of MB of vector text)."""


@dataclass(frozen=True)
class BulkLoad:
    """What a bulk load wrote and where its time went (seconds; load averages 1-minute)."""

    users: int
    turns: int
    scenes: int
    vectors: int
    load_s: float
    """Building rows and ``COPY`` with the secondary indexes dropped."""
    copy_s: float
    """The part of ``load_s`` spent in ``COPY``."""
    index_s: dict[str, float]
    """Each rebuilt index and its ``CREATE INDEX`` time."""
    vacuum_analyze_s: float
    maintenance_work_mem: str
    parallel_workers: int
    """The server's ``max_parallel_maintenance_workers`` (index builds may use that many)."""
    load_after_copy: float
    load_after_indexes: float

    @property
    def index_build_s(self) -> float:
        return sum(self.index_s.values())

    @property
    def total_s(self) -> float:
        return self.load_s + self.index_build_s + self.vacuum_analyze_s

    def to_json(self) -> dict[str, Any]:
        return {
            "users": self.users,
            "turns": self.turns,
            "scenes": self.scenes,
            "vectors": self.vectors,
            "load_s": round(self.load_s, 2),
            "copy_s": round(self.copy_s, 2),
            "index_build_s": round(self.index_build_s, 2),
            "index_s": {name: round(s, 2) for name, s in self.index_s.items()},
            "vacuum_analyze_s": round(self.vacuum_analyze_s, 2),
            "total_s": round(self.total_s, 2),
            "maintenance_work_mem": self.maintenance_work_mem,
            "max_parallel_maintenance_workers": self.parallel_workers,
            "load_after_copy": self.load_after_copy,
            "load_after_indexes": self.load_after_indexes,
        }


class StagingStore:
    """Where an LLM-free :class:`Ingestor` writes one user's batches: kept, not stored.

    It answers the reads that path makes (``next_seq``, ``turns``, ``last_scene``) as the
    Postgres store would after the same writes, so each ``add`` yields the batch it would
    yield against the database. Nothing else of :class:`~tmem.store.base.Store` is needed.
    """

    def __init__(self) -> None:
        self.batches: list[WriteBatch] = []
        self._turns: dict[str, Turn] = {}
        self._scenes: list[Scene] = []
        self._next_seq = 0

    def next_seq(self, user_id: str) -> int:
        return self._next_seq

    def turns(self, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
        return [self._turns[i] for i in turn_ids if i in self._turns]

    def last_scene(self, user_id: str) -> Scene | None:
        # The store orders by time, then by insertion (``ord``): the last of equal-time scenes.
        latest = max(enumerate(self._scenes), key=lambda p: (p[1].timestamp, p[0]), default=None)
        return None if latest is None else latest[1]

    def write(self, batch: WriteBatch) -> None:
        self.batches.append(batch)
        self._turns.update((t.id, t) for t in batch.turns)
        self._next_seq = max([self._next_seq, *(t.seq + 1 for t in batch.turns)])
        self._scenes.extend(batch.scenes)


def staged_batches(
    user_id: str,
    sessions: Sequence[tuple[str, Messages]],
    embedder: Embedder,
    config: Config,
    now: Callable[[], datetime],
) -> list[WriteBatch]:
    """The batches ``Memory.add`` (LLM-free) would write for ``sessions``, in order."""
    staging = StagingStore()
    # The cast: StagingStore has only the methods the LLM-free add path calls; the bulk test
    # compares the result with Memory.add on a real store, so a new call would fail it loudly.
    ingestor = Ingestor(cast(Store, staging), embedder, None, config, now)
    for session_id, messages in sessions:
        ingestor.add(messages, user_id, session_id)
    return staging.batches


def bulk_load(
    url: str,
    embedder: Embedder,
    user_ids: Sequence[str],
    sessions: Sessions,
    *,
    config: Config | None = None,
    now: Callable[[], datetime] | None = None,
    maintenance_work_mem: str = "4GB",
    progress: Progress = lambda _: None,
) -> BulkLoad:
    """Load the users into the empty tmem database at ``url`` as ``Memory.add`` would.

    Args:
        url: a libpq URL; the role must own the tmem tables (it migrates them if needed).
        embedder: embeds turns and contexts, as ``Memory``'s would; it is bound to the store.
        user_ids: the users, loaded in this order.
        sessions: a user's sessions, in the order ``Memory.add`` would receive them (asked for
            one user at a time, so the workload need not fit in memory).
        config: the write and embedder settings ``Memory`` would use.
        now: the clock ``Memory`` would read (history times).
        maintenance_work_mem: for the index builds; an HNSW graph built in memory is fast.
        progress: receives one line per stage and every 5 % of the users.

    Raises:
        StoreError: the database holds users already, or Postgres refused the load.
    """
    with PostgresStore(url) as store:
        store.bind_embedder(embedder.name, embedder.dim)
    job = _Job(embedder, config or Config(), now or SystemClock().now, progress)
    try:
        with psycopg.connect(url) as conn:
            with conn.transaction(), conn.cursor() as cursor:
                loaded = job.run(cursor, user_ids, sessions, maintenance_work_mem)
            conn.autocommit = True
            started = time.perf_counter()
            conn.execute(f"VACUUM (ANALYZE) {', '.join(COPY_COLUMNS)}")
            return replace(loaded, vacuum_analyze_s=time.perf_counter() - started)
    except psycopg.Error as error:
        raise StoreError(f"bulk load into Postgres failed: {error}") from error


@dataclass
class _Job:
    embedder: Embedder
    config: Config
    now: Callable[[], datetime]
    progress: Progress
    counts: dict[str, int] = field(default_factory=dict)
    copy_s: float = 0.0

    def run(
        self, cursor: Cursor, user_ids: Sequence[str], sessions: Sessions, work_mem: str
    ) -> BulkLoad:
        dim = _prepare(cursor, work_mem)
        forced = _lift_forced_rls(cursor)
        indexes = _drop_secondary_indexes(cursor)
        ords = _ord_values(cursor)
        started = time.perf_counter()
        self._stream(cursor, user_ids, sessions, dim, ords)
        load_s = time.perf_counter() - started
        load_after_copy = load_average()
        self.progress(f"bulk: rows copied in {load_s:.0f} s; building {len(indexes)} indexes")
        index_s = {name: _timed(cursor, statement) for name, statement in indexes}
        for table in forced:
            cursor.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        _set_ord(cursor, ords)
        cursor.execute("SHOW max_parallel_maintenance_workers")
        workers = cursor.fetchone()
        return BulkLoad(
            users=len(user_ids),
            turns=self.counts.get("tmem_turns", 0),
            scenes=self.counts.get("tmem_scenes", 0),
            vectors=self.counts.get("tmem_vectors", 0),
            load_s=load_s,
            copy_s=self.copy_s,
            index_s=index_s,
            vacuum_analyze_s=0.0,
            maintenance_work_mem=work_mem,
            parallel_workers=int(workers[0]) if workers else 0,
            load_after_copy=load_after_copy,
            load_after_indexes=load_average(),
        )

    def _stream(
        self,
        cursor: Cursor,
        user_ids: Sequence[str],
        sessions: Sessions,
        dim: int,
        ords: Iterator[int],
    ) -> None:
        buffer = TableRows()
        for count, user_id in enumerate(user_ids, start=1):
            batches = staged_batches(
                user_id, sessions(user_id), self.embedder, self.config, self.now
            )
            buffer.extend(user_rows(user_id, batches, dim, ords))
            if len(buffer) >= FLUSH_ROWS:
                self._copy(cursor, buffer)
                buffer = TableRows()
            if count % max(1, len(user_ids) // 20) == 0:
                copied = sum(self.counts.values())
                self.progress(f"bulk: {count}/{len(user_ids)} users staged, {copied} rows copied")
        self._copy(cursor, buffer)

    def _copy(self, cursor: Cursor, buffer: TableRows) -> None:
        started = time.perf_counter()
        for table, rows in buffer.tables.items():
            if not rows:
                continue
            columns = sql.SQL(", ").join(map(sql.Identifier, COPY_COLUMNS[table]))
            binary = sql.SQL(" (FORMAT BINARY)" if table in BINARY_TYPES else "")
            statement = sql.SQL("COPY {} ({}) FROM STDIN{}").format(
                sql.Identifier(table), columns, binary
            )
            with cursor.copy(statement) as copy:
                if table in BINARY_TYPES:
                    copy.set_types(list(BINARY_TYPES[table]))
                for row in rows:
                    copy.write_row(row)
            self.counts[table] = self.counts.get(table, 0) + len(rows)
        self.copy_s += time.perf_counter() - started


def _prepare(cursor: Cursor, maintenance_work_mem: str) -> int:
    """The vector dimension, after checking the database is empty and raising the memory."""
    cursor.execute("SELECT EXISTS (SELECT 1 FROM tmem_users)")
    row = cursor.fetchone()
    if row is None or row[0]:
        raise StoreError("bulk loading needs a tmem database without users; this one has some")
    dim = vector_dim(read_meta(cursor))
    if dim is None:  # bind_embedder made the table; only a concurrent drop could undo that
        raise StoreError("the tmem vector table is missing")
    cursor.execute(
        sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem))
    )
    return dim


def _loaded_tables(cursor: Cursor, where: str) -> list[str]:
    """The loaded tables matching ``where`` (on ``pg_class c``), as ``regclass`` text."""
    cursor.execute(
        "SELECT c.oid::regclass::text FROM pg_class c"
        f" WHERE c.oid = ANY(%s::regclass[]) AND {where} ORDER BY c.relname",
        (list(COPY_COLUMNS),),
    )
    return [str(name) for (name,) in cursor.fetchall()]


def _lift_forced_rls(cursor: Cursor) -> list[str]:
    """Let the owner ``COPY`` into the loaded tables; return those to force again after."""
    forced = _loaded_tables(cursor, "c.relforcerowsecurity")
    for table in forced:
        cursor.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
    return forced


def _drop_secondary_indexes(cursor: Cursor) -> list[tuple[str, str]]:
    """Drop the loaded tables' indexes that back no constraint; return (name, definition).

    Primary keys stay: they are the uniqueness the upserts rely on, and checking it on the
    way in costs far less than HNSW or GIN maintenance.
    """
    cursor.execute(
        "SELECT x.indexrelid::regclass::text, pg_get_indexdef(x.indexrelid) FROM pg_index x"
        " WHERE x.indrelid = ANY(%s::regclass[]) AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)"
        " ORDER BY x.indrelid, x.indexrelid",
        (list(COPY_COLUMNS),),
    )
    indexes = [(str(name), str(definition)) for name, definition in cursor.fetchall()]
    for name, _ in indexes:
        cursor.execute(f"DROP INDEX {name}")
    return indexes


def _timed(cursor: Cursor, statement: str) -> float:
    started = time.perf_counter()
    cursor.execute(statement)
    return time.perf_counter() - started


class _Ords(Iterator[int]):
    """The values ``nextval('tmem_ord')`` would hand out, remembering the last one taken."""

    def __init__(self, first: int) -> None:
        self._values = itertools.count(first)
        self.first = first
        self.last = first - 1

    def __next__(self) -> int:
        self.last = next(self._values)
        return self.last


def _ord_values(cursor: Cursor) -> _Ords:
    cursor.execute("SELECT last_value, is_called FROM tmem_ord")
    row = cursor.fetchone()
    assert row is not None  # a sequence relation always has its one row
    return _Ords(int(row[0]) + 1 if row[1] else int(row[0]))


def _set_ord(cursor: Cursor, ords: _Ords) -> None:
    """Move the sequence past the values the load used, as ``nextval`` would have."""
    if ords.last >= ords.first:
        cursor.execute("SELECT setval('tmem_ord', %s)", (ords.last,))


# --- the speed benchmark's hook -----------------------------------------------------------------
def bulk_ingest(
    params: SpeedParams, workload: Workload, embedder: Embedder, progress: Progress
) -> tuple[SystemResult, list[list[dict[str, str]]]]:
    """``tmem bench speed --bulk``: load the workload as :func:`tmem.bench.speed.ingest` would.

    The sessions, their ids (``s0``, ``s1``, ...) and the config are the ones ``ingest`` hands
    to ``Memory.add``; ``ingest_s`` is the whole load, index builds and ``VACUUM`` included.
    """

    def sessions(user_id: str) -> list[tuple[str, Messages]]:
        return [(f"s{i}", s) for i, s in enumerate(workload.sessions(user_id))]

    loaded = bulk_load(params.pg_url, embedder, workload.users(), sessions, progress=progress)
    result = SystemResult(ingest_s=loaded.total_s, rows=loaded.turns + loaded.scenes)
    result.ingest_per_s = loaded.turns / loaded.total_s if loaded.total_s else 0.0
    result.extra.update(turns=loaded.turns, load_method="bulk", bulk=loaded.to_json())
    sample = workload.sessions(workload.users()[0])[:8] if params.users else []
    return result, sample
