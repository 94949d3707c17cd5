"""A store in PostgreSQL with pgvector, for servers and many processes sharing one database.

Needs ``pip install 'tmem[postgres]'`` (psycopg 3) and the ``vector`` extension (pgvector 0.5
or newer, for HNSW). Semantics are the SQLite store's: the same cascades, history, versions,
orders and export format. docs/postgres.md covers setup, Row-Level Security and Citus.

Every operation is one transaction on a pooled connection. Each transaction that touches a
user's rows first sets ``tmem.user_id``, which the tables' forced Row-Level Security policies
check, and every query also filters by ``user_id`` itself. Deadlocks and serialisation failures
are retried; other database errors surface as :class:`~tmem.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from importlib import metadata
from types import TracebackType
from typing import Any, TypeVar

import psycopg

from tmem.clock import Clock, SystemClock
from tmem.errors import NotFoundError
from tmem.models import (
    HistoryEntry,
    Kind,
    PersonaProfile,
    Record,
    RiskFlag,
    Scene,
    Trigger,
    Turn,
)
from tmem.store import codec
from tmem.store import postgres_delete as deleting
from tmem.store import postgres_jobs as jobs
from tmem.store import postgres_read as reading
from tmem.store import postgres_risk as risk
from tmem.store import postgres_search as searching
from tmem.store import postgres_service as service
from tmem.store.base import (
    DEFAULT_LEASE,
    ApiKey,
    IdempotencyRecord,
    Job,
    Scored,
    Vector,
    VectorRow,
    WriteBatch,
)
from tmem.store.conflict import check_basis
from tmem.store.policy import Forgetting, without_forgotten
from tmem.store.postgres_export import export_rows, import_row
from tmem.store.postgres_migrate import (
    bind,
    bound_embedder,
    ensure_vector_table,
    migrate,
    read_meta,
    vector_dim,
)
from tmem.store.postgres_pool import ConnectionPool, Cursor, run
from tmem.store.postgres_write import (
    add_history,
    apply_batch,
    checked_vector,
    delete_vectors,
    lock_user,
    put_memory,
    put_turn,
    put_vectors,
    touch_user,
)

T = TypeVar("T")


def _tmem_version() -> str:
    try:
        return metadata.version("tmem")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class PostgresStore:
    """A :class:`~tmem.store.base.Store` and :class:`~tmem.store.base.ServiceStore` in a
    Postgres database, shareable across threads, processes and machines.

    Args:
        url: a libpq URL or DSN, e.g. ``postgresql://tmem@db.internal/tmem``.
        pool_size: connections opened at most (lazily); callers beyond that wait.
        clock: the source of export timestamps.

    Raises:
        StoreError: the database cannot be reached or pgvector cannot be enabled.
        SchemaVersionError: the database was migrated by a newer tmem.
    """

    def __init__(self, url: str, *, pool_size: int = 4, clock: Clock | None = None) -> None:
        self._where = _redacted(url)
        self._clock = clock or SystemClock()
        self._pool = ConnectionPool(url, pool_size)
        try:
            applied = self._run(None, lambda cursor: migrate(cursor, _tmem_version()))
        except BaseException:
            self._pool.close()
            raise
        self.applied_migrations: tuple[str, ...] = tuple(applied)
        """The migrations this open applied, oldest first (none if the schema was current)."""

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _run(self, user_id: str | None, work: Callable[[Cursor], T]) -> T:
        return run(self._pool, user_id, work)

    def _locked(self, user_id: str, work: Callable[[Cursor], T]) -> T:
        """Run a write of ``user_id`` holding the user's lock (see :func:`lock_user`)."""

        def locked(cursor: Cursor) -> T:
            lock_user(cursor, user_id)
            return work(cursor)

        return self._run(user_id, locked)

    def _vector_dim(self, cursor: Cursor) -> int | None:
        # Read each time, not cached: a transaction that created the table may still roll back.
        return vector_dim(read_meta(cursor))

    def _writable_dim(self, cursor: Cursor, vectors: Sequence[VectorRow]) -> int | None:
        """The vector table's dimension, creating the table from ``vectors[0]`` if needed."""
        dim = self._vector_dim(cursor)
        if dim is None and vectors:
            checked_vector(vectors[0], None)
            dim = ensure_vector_table(cursor, len(vectors[0].vector))
        return dim

    # --- lifecycle ----------------------------------------------------------------------------
    def bind_embedder(self, name: str, dim: int) -> None:
        """Record the embedder on first use; raise ``EmbedderMismatchError`` on a different one."""
        self._run(None, lambda cursor: bind(cursor, (name, dim), self._where))

    def embedder(self) -> tuple[str, int] | None:
        """The bound embedder's name and dimension, if any."""
        return self._run(None, lambda cursor: bound_embedder(read_meta(cursor)))

    def close(self) -> None:
        self._pool.close()

    # --- writes -------------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically: all of it or none of it."""

        def work(cursor: Cursor) -> None:
            check_basis(
                batch.user_id,
                batch.basis,
                next_seq=lambda: _next_seq(cursor, batch.user_id),
                scenes=lambda ids: reading.scene_sources(cursor, batch.user_id, ids),
                links=lambda ids: reading.scene_links(cursor, batch.user_id, ids),
            )
            relinked = [turn_id for turn_id, _ in batch.scene_of_turn]
            holders = deleting.scenes_of_turns(cursor, batch.user_id, relinked)
            apply_batch(cursor, batch, self._writable_dim(cursor, batch.vectors))
            risk.put_detected(cursor, batch.user_id, batch.risks)
            holders -= {scene_id for _, scene_id in batch.scene_of_turn}
            # Turns keep their context vectors for life: search ranks every turn by them.
            keep = set(relinked)
            deleting.erase_emptied_scenes(cursor, batch.user_id, holders, batch.at, keep)

        self._locked(batch.user_id, work)

    def next_seq(self, user_id: str) -> int:
        return self._run(user_id, lambda cursor: _next_seq(cursor, user_id))

    def update_memory(
        self,
        user_id: str,
        memory_id: str,
        content: str,
        vectors: Sequence[VectorRow],
        at: datetime,
    ) -> Record:
        """Replace a memory's text (a scene's narrative) and the vectors of the spaces given.

        History gets an ``updated`` entry, preceded by a ``created`` one holding the old text
        when the memory had none (turns).
        """

        def work(cursor: Cursor) -> Record:
            found = reading.get_many(cursor, user_id, [memory_id]).get(memory_id)
            if found is None:
                raise NotFoundError(f"no memory {memory_id!r} for this user")
            if not reading.history(cursor, user_id, memory_id):
                # Turns get no history row when stored; keep the original text before replacing it.
                add_history(
                    cursor, user_id, memory_id, "created", _current_text(found), found.timestamp
                )
            version = add_history(cursor, user_id, memory_id, "updated", content, at)
            updated = _with_text(found, content)
            if isinstance(updated, Turn):
                put_turn(cursor, user_id, updated)
            else:
                put_memory(cursor, user_id, updated, version)
            spaces = sorted({row.space for row in vectors})
            delete_vectors(cursor, user_id, [memory_id], spaces)
            put_vectors(cursor, user_id, vectors, self._writable_dim(cursor, vectors))
            touch_user(cursor, user_id)
            return updated

        return self._locked(user_id, work)

    def plan_forget(self, user_id: str, memory_id: str) -> Forgetting:
        """What :meth:`delete_memory` would erase and send back to waiting, as of now."""
        return self._run(
            user_id, lambda cursor: deleting.plan_forget_of(cursor, user_id, memory_id)
        )

    def delete_memory(
        self,
        user_id: str,
        memory_id: str,
        at: datetime,
        context: Sequence[VectorRow] = (),
    ) -> int:
        """Forget a memory by :mod:`tmem.store.policy`, in one transaction; return rows removed.

        Counts the memories, triggers and vectors removed, as the SQLite store does. Dead
        tuples stay on disk until VACUUM (docs/postgres.md).
        """

        def work(cursor: Cursor) -> int:
            dim = self._writable_dim(cursor, context) if context else self._vector_dim(cursor)
            return deleting.delete_memory(cursor, user_id, memory_id, at, context, dim)

        return self._locked(user_id, work)

    def delete_user(self, user_id: str) -> int:
        """Delete every row of this user, history and queued jobs included; return rows removed."""
        return self._locked(
            user_id,
            lambda cursor: deleting.delete_user(
                cursor, user_id, self._vector_dim(cursor) is not None
            ),
        )

    # --- reads --------------------------------------------------------------------------------
    def get(self, user_id: str, memory_id: str) -> Record | None:
        return self.get_many(user_id, [memory_id]).get(memory_id)

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]:
        return self._run(user_id, lambda cursor: reading.get_many(cursor, user_id, memory_ids))

    def turns(self, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
        """Turns in the order of ``turn_ids``; unknown ids are skipped."""
        return self._run(user_id, lambda cursor: reading.turns(cursor, user_id, turn_ids))

    def recent_turns(self, user_id: str, limit: int) -> list[Turn]:
        return self._run(user_id, lambda cursor: reading.recent_turns(cursor, user_id, limit))

    def last_scene(self, user_id: str) -> Scene | None:
        return self._run(user_id, lambda cursor: reading.last_scene(cursor, user_id))

    def pending_turns(self, user_id: str) -> list[Turn]:
        return self._run(user_id, lambda cursor: reading.pending_turns(cursor, user_id))

    def triggers_for(self, user_id: str, trigger_ids: Sequence[str]) -> list[Trigger]:
        return self._run(user_id, lambda cursor: reading.triggers_for(cursor, user_id, trigger_ids))

    def triggers_of(self, user_id: str, memory_id: str) -> list[Trigger]:
        return self._run(user_id, lambda cursor: reading.triggers_of(cursor, user_id, memory_id))

    def personas(self, user_id: str) -> list[PersonaProfile]:
        return self._run(user_id, lambda cursor: reading.personas(cursor, user_id))

    def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        return self._run(user_id, lambda cursor: reading.history(cursor, user_id, memory_id))

    def review_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        def work(cursor: Cursor) -> RiskFlag:
            if deleting.kind_of(cursor, user_id, flag.memory_id) is None:
                raise NotFoundError(f"no memory {flag.memory_id!r} for this user")
            return risk.append(cursor, user_id, flag)

        return self._run(user_id, work)

    def risk_flags(
        self, user_id: str, memory_ids: Sequence[str] | None = None
    ) -> dict[str, RiskFlag]:
        return self._run(user_id, lambda cursor: risk.latest(cursor, user_id, memory_ids))

    def risk_history(self, user_id: str, memory_id: str) -> list[RiskFlag]:
        return self._run(user_id, lambda cursor: risk.history(cursor, user_id, memory_id))

    def users(self) -> list[str]:
        def work(cursor: Cursor) -> list[str]:
            cursor.execute('SELECT user_id FROM tmem_users ORDER BY user_id COLLATE "C"')
            return [str(user_id) for (user_id,) in cursor.fetchall()]

        return self._run(None, work)

    # --- search -------------------------------------------------------------------------------
    def search_vectors(self, user_id: str, space: str, query: Vector, limit: int) -> list[Scored]:
        """Nearest vectors by dot product (cosine for unit vectors), best first."""

        def work(cursor: Cursor) -> list[Scored]:
            dim = self._vector_dim(cursor)
            return searching.search_vectors(cursor, user_id, space, query, limit, dim)

        return self._run(user_id, work)

    def search_text(self, user_id: str, kind: Kind, query: str, limit: int) -> list[Scored]:
        """Full-text matches among the user's active memories of ``kind``; any text is safe."""
        return self._run(
            user_id, lambda cursor: searching.search_text(cursor, user_id, kind, query, limit)
        )

    # --- export / import ----------------------------------------------------------------------
    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """The header, then every row of the user by type (see :mod:`tmem.store.codec`)."""

        def work(cursor: Cursor) -> list[dict[str, Any]]:
            header = codec.export_header(bound_embedder(read_meta(cursor)), self._clock.now())
            has_vectors = self._vector_dim(cursor) is not None
            return [header, *export_rows(cursor, user_id, has_vectors)]

        return iter(self._run(user_id, work))

    def import_records(self, user_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Load an export into ``user_id`` in one transaction, ids kept; return rows written.

        Raises:
            InputError: not a tmem export, or a malformed record.
            EmbedderMismatchError: the export's embedder differs from the store's.
        """
        embedder, rows = codec.split_export(list(records))

        def work(cursor: Cursor) -> int:
            if embedder is not None:
                bind(cursor, embedder, self._where)
            touch_user(cursor, user_id)
            kept = without_forgotten(rows, reading.forgotten(cursor, user_id))
            vectors = [codec.vector_from_dict(row) for row in kept if row["type"] == "vector"]
            dim = self._writable_dim(cursor, vectors)
            for row in kept:
                import_row(cursor, user_id, row, dim)
            return len(kept)

        return self._locked(user_id, work)

    # --- background jobs ----------------------------------------------------------------------
    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str:
        """Queue a job for ``user_id``; return its id. ``now`` defaults to the database clock."""
        return self._run(None, lambda cursor: jobs.enqueue(cursor, kind, payload, user_id, now))

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None:
        """Take the oldest due job (or one whose lease ran out) for ``worker_id``, if any.

        Concurrent workers never receive the same job: the claim skips rows another
        transaction holds (``FOR UPDATE SKIP LOCKED``).
        """
        return self._run(None, lambda cursor: jobs.claim(cursor, worker_id, lease, now))

    def renew_job(self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        """Extend the lease ``worker_id`` holds on a running job to ``lease`` from now.

        Raises:
            NotFoundError: the worker no longer holds the job (another took it over).
        """
        self._run(None, lambda cursor: jobs.renew(cursor, job_id, worker_id, lease))

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None:
        """Mark a job done with its ``result``.

        With ``worker_id``, only while that worker still holds the job: a worker whose lease
        ran out (and whose job another worker took over) gets ``NotFoundError`` instead of
        overwriting the new claim. ``NotFoundError`` too if there is no such job.
        """
        self._run(None, lambda cursor: jobs.finish(cursor, job_id, result, worker_id))

    def fail_job(
        self,
        job_id: str,
        error: str,
        retry_at: datetime | None,
        *,
        worker_id: str | None = None,
    ) -> None:
        """Record a failure: requeue for ``retry_at``, or end the job when it is None.

        ``worker_id`` guards as in :meth:`finish_job`.
        """
        self._run(None, lambda cursor: jobs.fail(cursor, job_id, error, retry_at, worker_id))

    def get_job(self, job_id: str, user_id: str) -> Job | None:
        """The job as last recorded, if it exists and belongs to ``user_id``."""
        return self._run(None, lambda cursor: jobs.get(cursor, job_id, user_id))

    # --- API keys and idempotency ----------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        """Store ``key`` (its hash, never the secret); a duplicate id or hash is refused."""
        self._run(None, lambda cursor: service.add_api_key(cursor, key))

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, if any."""
        return self._run(None, lambda cursor: service.api_key_by_hash(cursor, hash))

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """Revoke a live key; False if there is no such key or it was already revoked."""
        return self._run(None, lambda cursor: service.revoke_api_key(cursor, key_id, at))

    def api_keys(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of ``tenant``), revoked ones included, by tenant and age."""
        return self._run(None, lambda cursor: service.api_keys(cursor, tenant))

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None:
        return self._run(None, lambda cursor: service.idempotency_get(cursor, tenant, key))

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless one exists for (tenant, key); return the stored one."""
        return self._run(None, lambda cursor: service.idempotency_put(cursor, record))

    def idempotency_purge(self, before: datetime) -> int:
        """Forget idempotency records created before ``before``; return how many."""
        return self._run(None, lambda cursor: service.idempotency_purge(cursor, before))

    def purge_jobs(self, before: datetime) -> int:
        """Delete finished jobs last updated before ``before``; return how many."""
        return self._run(None, lambda cursor: jobs.purge(cursor, before))

    # Last in the class: inside it, the name ``list`` means this method, not the builtin.
    def list(
        self, user_id: str, kind: Kind | None = None, *, include_superseded: bool = False
    ) -> list[Record]:
        """Memories of a user in time order (turns by ``seq``)."""
        return self._run(
            user_id,
            lambda cursor: reading.list_memories(cursor, user_id, kind, include_superseded),
        )


def _next_seq(cursor: Cursor, user_id: str) -> int:
    cursor.execute("SELECT next_seq FROM tmem_users WHERE user_id = %s", (user_id,))
    row = cursor.fetchone()
    return 0 if row is None else int(row[0])


def _current_text(record: Record) -> str:
    """The field :meth:`PostgresStore.update_memory` replaces, as it is now."""
    return record.narrative if isinstance(record, Scene) else record.content


def _with_text(record: Record, content: str) -> Record:
    if isinstance(record, Scene):
        return replace(record, narrative=content)
    return replace(record, content=content)


def _redacted(url: str) -> str:
    """``url`` without its password, for messages and ``repr``."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable Postgres URL>"
    host, database = info.get("host", ""), info.get("dbname", "")
    return f"postgresql://{info.get('user', '')}@{host}/{database}"
