"""Bulk-load a seeded workload into Postgres: the rows ``Memory.add`` writes, through ``COPY``.

Loading 1M memories through :meth:`Memory.add` runs at ~42 turns/s on Postgres (mostly pgvector
keeping two HNSW graphs current on every insert), about 6.5 hours. Here the same ingestion code
runs against an in-memory stand-in for the store: :class:`~tmem.ingest.pipeline.Ingestor` in
LLM-free mode turns each session into the very ``WriteBatch`` it would hand to
``PostgresStore.write``, :func:`tmem.store.postgres.bulk.user_rows` turns those batches into the
rows ``apply_batch`` would leave, and the Postgres wing's :func:`~tmem.store.postgres.bulk.
bulk_loading` streams them in with ``COPY`` in one transaction (it owns what the load does to
the database: indexes, Row-Level Security, the ``tmem_ord`` sequence). ``VACUUM (ANALYZE)``
runs after, so that neither stale statistics nor an autovacuum pass lands in the timed
searches. This module only drives the workload. The database must hold no users yet.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from tmem.clock import SystemClock
from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.eval.speed.measure import load_average
from tmem.eval.speed.workload import Progress, SpeedParams, SystemResult, Workload
from tmem.ingest.pipeline import Ingestor
from tmem.models import Scene, Turn
from tmem.store.base import Store, WriteBatch
from tmem.store.postgres import PostgresStore
from tmem.store.postgres.bulk import (
    BulkLoader,
    TableRows,
    bulk_loading,
    user_rows,
    vacuum_analyze,
)

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
    with bulk_loading(url, maintenance_work_mem) as loader:
        loaded = job.run(loader, user_ids, sessions)
    return replace(loaded, vacuum_analyze_s=vacuum_analyze(url))


@dataclass
class _Job:
    embedder: Embedder
    config: Config
    now: Callable[[], datetime]
    progress: Progress

    def run(self, loader: BulkLoader, user_ids: Sequence[str], sessions: Sessions) -> BulkLoad:
        started = time.perf_counter()
        self._stream(loader, user_ids, sessions)
        load_s = time.perf_counter() - started
        load_after_copy = load_average()
        count = len(loader.indexes)
        self.progress(f"bulk: rows copied in {load_s:.0f} s; building {count} indexes")
        index_s = loader.finish()
        return BulkLoad(
            users=len(user_ids),
            turns=loader.counts.get("tmem_turns", 0),
            scenes=loader.counts.get("tmem_scenes", 0),
            vectors=loader.counts.get("tmem_vectors", 0),
            load_s=load_s,
            copy_s=loader.copy_s,
            index_s=index_s,
            vacuum_analyze_s=0.0,
            maintenance_work_mem=loader.maintenance_work_mem,
            parallel_workers=loader.parallel_workers(),
            load_after_copy=load_after_copy,
            load_after_indexes=load_average(),
        )

    def _stream(self, loader: BulkLoader, user_ids: Sequence[str], sessions: Sessions) -> None:
        buffer = TableRows()
        for count, user_id in enumerate(user_ids, start=1):
            batches = staged_batches(
                user_id, sessions(user_id), self.embedder, self.config, self.now
            )
            buffer.extend(user_rows(user_id, batches, loader.dim, loader.ords))
            if len(buffer) >= FLUSH_ROWS:
                loader.copy(buffer)
                buffer = TableRows()
            if count % max(1, len(user_ids) // 20) == 0:
                copied = sum(loader.counts.values())
                self.progress(f"bulk: {count}/{len(user_ids)} users staged, {copied} rows copied")
        loader.copy(buffer)


# --- the speed benchmark's hook -----------------------------------------------------------------
def bulk_ingest(
    params: SpeedParams, workload: Workload, embedder: Embedder, progress: Progress
) -> tuple[SystemResult, list[list[dict[str, str]]]]:
    """``tmem bench speed --bulk``: load the workload as :func:`tmem.eval.speed.speed.ingest` would.

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
