"""The default store: one SQLite file (or ``:memory:``) holding every user's memories.

Durability contract: the file runs in WAL mode. With ``durable=False`` (``synchronous=NORMAL``)
an application crash never loses or corrupts acknowledged writes, but a power loss or OS crash
may roll back the most recent commits. With ``durable=True`` (``synchronous=FULL``) every
acknowledged write survives power loss too, provided the disk honours ``fsync``. WAL needs
shared memory: keep the file on a local disk, never a network filesystem.

One connection serves all threads, guarded by a re-entrant lock; every write is one
``BEGIN IMMEDIATE`` transaction, every multi-statement read one snapshot.

Opening a file written by an older tmem applies the pending schema migrations at once, in one
transaction (a crash leaves the old schema with all its data); ``tmem migrate`` does the same
explicitly, and ``tmem migrate --dry-run`` lists what would run.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any

from tmem.clock import Clock, SystemClock
from tmem.errors import EmbedderMismatchError, InputError, NotFoundError, StoreError
from tmem.models import (
    HistoryEntry,
    Item,
    Kind,
    PersonaProfile,
    Record,
    RiskFlag,
    Scene,
    Trigger,
    Turn,
)
from tmem.store import codec
from tmem.store import sqlite_delete as deleting
from tmem.store import sqlite_read as reading
from tmem.store import sqlite_risk as risk
from tmem.store import sqlite_service as service
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
from tmem.store.codec import RECORD_TYPES, Row
from tmem.store.conflict import check_basis
from tmem.store.policy import Forgetting, without_forgotten
from tmem.store.sqlite_rows import fetch_rows, put_row
from tmem.store.sqlite_schema import connect, migrate, next_generation, read_meta, write_embedder
from tmem.store.sqlite_write import add_history, apply_batch, write_vector
from tmem.store.vectors import VectorCache, batch_delta


def _tmem_version() -> str:
    try:
        return metadata.version("tmem")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class SQLiteStore:
    """A :class:`~tmem.store.base.Store` and :class:`~tmem.store.base.ServiceStore` in one
    SQLite file, shareable across threads and processes on one host.

    Args:
        path: the database file, created when missing, or ``":memory:"``.
        durable: ``synchronous=FULL`` (survives power loss) instead of NORMAL.
        clock: the source of ``created_at`` and export timestamps.

    Raises:
        StoreError: the file is not a SQLite database or not a tmem store.
        SchemaVersionError: the file was written by a newer tmem.
    """

    def __init__(
        self, path: str | Path, *, durable: bool = False, clock: Clock | None = None
    ) -> None:
        self.path = str(path)
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._cache = VectorCache()
        self._conn: sqlite3.Connection | None = connect(self.path, durable=durable)
        try:
            applied = migrate(
                self._conn,
                tmem_version=_tmem_version(),
                created_at=codec.encode_time(self._clock.now()),
            )
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot prepare store {self.path!r}: {exc}") from exc
        except BaseException:
            self.close()
            raise
        self.applied_migrations: tuple[str, ...] = tuple(applied)
        """The migrations this open applied, oldest first (none if the schema was current)."""

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- transactions -----------------------------------------------------------------------
    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        """Run the block in one transaction; sqlite3 errors surface as :class:`StoreError`."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"store {self.path!r} is closed")
            conn = self._conn
            try:
                conn.execute(begin)
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise StoreError(f"store {self.path!r}: {exc}") from exc
                raise

    def _writing(self) -> Any:
        return self._transaction("BEGIN IMMEDIATE")

    def _reading(self) -> Any:
        return self._transaction("BEGIN DEFERRED")

    def _touch(self, conn: sqlite3.Connection, user_id: str, next_seq: int = 0) -> None:
        """Mark ``user_id`` changed: a new generation invalidates every cached matrix."""
        self._bump(conn, user_id, next_seq)
        self._cache.forget(user_id)

    def _bump(self, conn: sqlite3.Connection, user_id: str, next_seq: int = 0) -> int:
        """Give ``user_id`` a new generation (other processes' caches see the change)."""
        generation = next_generation(conn)
        conn.execute(
            "INSERT INTO users (user_id, generation, next_seq) VALUES (?, ?, ?)"
            " ON CONFLICT (user_id) DO UPDATE SET generation = excluded.generation,"
            " next_seq = MAX(users.next_seq, excluded.next_seq)",
            (user_id, generation, next_seq),
        )
        return generation

    # --- lifecycle ----------------------------------------------------------------------------
    def bind_embedder(self, name: str, dim: int) -> None:
        """Record the embedder on first use; raise ``EmbedderMismatchError`` on a different one."""
        with self._writing() as conn:
            self._bind(conn, (name, dim))

    def _bind(self, conn: sqlite3.Connection, embedder: tuple[str, int]) -> None:
        bound = read_meta(conn).embedder
        if bound is None:
            write_embedder(conn, *embedder)
        elif bound != embedder:
            raise EmbedderMismatchError(
                f"store {self.path!r} holds vectors of {bound[0]} (dim {bound[1]}),"
                f" not {embedder[0]} (dim {embedder[1]}); re-embed with `tmem reindex`"
                " or open another store"
            )

    def embedder(self) -> tuple[str, int] | None:
        """The bound embedder's name and dimension, if any."""
        with self._reading() as conn:
            return read_meta(conn).embedder

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._cache.clear()

    # --- writes -------------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically: all of it or none of it."""
        delta = batch_delta(batch)
        with self._writing() as conn:
            # BEGIN IMMEDIATE holds the file's write lock: no other process writes until COMMIT,
            # so what the batch was planned on cannot change between this check and the write.
            self._check_basis(conn, batch)
            before = reading.generation(conn, batch.user_id)
            bound = read_meta(conn).embedder
            relinked = [turn_id for turn_id, _ in batch.scene_of_turn]
            holders = deleting.scenes_of_turns(conn, batch.user_id, relinked)
            apply_batch(conn, batch, bound[1] if bound else None)
            risk.put_detected(conn, batch.user_id, batch.risks)
            holders -= {scene_id for _, scene_id in batch.scene_of_turn}
            # Turns keep their context vectors for life: search ranks every turn by them.
            keep = set(relinked)
            erased = deleting.erase_emptied_scenes(conn, batch.user_id, holders, batch.at, keep)
            next_seq = max((turn.seq + 1 for turn in batch.turns), default=0)
            after = self._bump(conn, batch.user_id, next_seq)
            # Carry cached matrices through the write instead of reloading them. If the commit
            # fails, the stored generation stays ``before`` and the next search reloads.
            self._cache.advance(batch.user_id, before, after, None if erased else delta)

    def _check_basis(self, conn: sqlite3.Connection, batch: WriteBatch) -> None:
        user_id = batch.user_id
        check_basis(
            user_id,
            batch.basis,
            next_seq=lambda: _next_seq(conn, user_id),
            scenes=lambda ids: reading.scene_sources(conn, user_id, ids),
            links=lambda ids: reading.scene_links(conn, user_id, ids),
        )

    def next_seq(self, user_id: str) -> int:
        with self._reading() as conn:
            return _next_seq(conn, user_id)

    def update_memory(
        self,
        user_id: str,
        memory_id: str,
        content: str,
        vectors: Sequence[VectorRow],
        at: datetime,
    ) -> Record:
        """Replace a memory's text (a scene's narrative) and all its vectors; log ``updated``."""
        with self._writing() as conn:
            found = reading.get_many(conn, user_id, [memory_id]).get(memory_id)
            if found is None:
                raise NotFoundError(f"no memory {memory_id!r} for this user")
            if not reading.history(conn, user_id, memory_id):
                # Turns get no history row when stored; keep the original text before replacing it.
                add_history(
                    conn, user_id, memory_id, "created", _current_text(found), found.timestamp
                )
            version = add_history(conn, user_id, memory_id, "updated", content, at)
            updated = _with_text(found, content)
            put_row(conn, user_id, _row_of(conn, user_id, updated, version))
            for space in {row.space for row in vectors}:
                conn.execute(
                    "DELETE FROM vectors WHERE user_id = ? AND owner_id = ? AND space = ?",
                    (user_id, memory_id, space),
                )
            bound = read_meta(conn).embedder
            for row in vectors:
                write_vector(conn, user_id, row, bound[1] if bound else None)
            self._touch(conn, user_id)
            return updated

    def plan_forget(self, user_id: str, memory_id: str) -> Forgetting:
        """What :meth:`delete_memory` would erase and send back to waiting, as of now."""
        with self._reading() as conn:
            return deleting.plan_forget_of(conn, user_id, memory_id)

    def delete_memory(
        self,
        user_id: str,
        memory_id: str,
        at: datetime,
        context: Sequence[VectorRow] = (),
    ) -> int:
        """Forget a memory by :mod:`tmem.store.policy`; return rows removed.

        Counts the memories, triggers and vectors removed. One write transaction, then a WAL
        checkpoint, so the erased text is out of the WAL file when this returns.
        """
        with self._writing() as conn:
            bound = read_meta(conn).embedder
            removed = deleting.delete_memory(
                conn, user_id, memory_id, at, context, bound[1] if bound else None
            )
            self._touch(conn, user_id)
        self._checkpoint()
        return removed

    def delete_user(self, user_id: str) -> int:
        """Delete every row of this user, history and jobs included; return rows removed."""
        with self._writing() as conn:
            next_generation(conn)
            removed = deleting.delete_user(conn, user_id) + service.delete_jobs(conn, user_id)
            self._cache.forget(user_id)
        self._checkpoint()
        return removed

    def _checkpoint(self) -> None:
        """Copy the WAL into the file and truncate it: erased text leaves the WAL.

        With ``secure_delete`` on, the copied pages carry zeros where the erased rows were.
        A reader in another connection can keep the checkpoint from finishing; the next
        deletion (or SQLite's automatic checkpoint) completes it.
        """
        if self.path == ":memory:":
            return
        with self._lock:
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()

    # --- reads --------------------------------------------------------------------------------
    def get(self, user_id: str, memory_id: str) -> Record | None:
        return self.get_many(user_id, [memory_id]).get(memory_id)

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]:
        with self._reading() as conn:
            return reading.get_many(conn, user_id, memory_ids)

    def turns(self, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
        """Turns in the order of ``turn_ids``; unknown ids are skipped."""
        with self._reading() as conn:
            return reading.turns(conn, user_id, turn_ids)

    def recent_turns(self, user_id: str, limit: int) -> list[Turn]:
        with self._reading() as conn:
            return reading.recent_turns(conn, user_id, limit)

    def last_scene(self, user_id: str) -> Scene | None:
        with self._reading() as conn:
            return reading.last_scene(conn, user_id)

    def pending_turns(self, user_id: str) -> list[Turn]:
        with self._reading() as conn:
            return reading.pending_turns(conn, user_id)

    def triggers_for(self, user_id: str, trigger_ids: Sequence[str]) -> list[Trigger]:
        with self._reading() as conn:
            return reading.triggers_for(conn, user_id, trigger_ids)

    def triggers_of(self, user_id: str, memory_id: str) -> list[Trigger]:
        with self._reading() as conn:
            return reading.triggers_of(conn, user_id, memory_id)

    def personas(self, user_id: str) -> list[PersonaProfile]:
        with self._reading() as conn:
            return reading.personas(conn, user_id)

    def review_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        with self._writing() as conn:
            if deleting.kind_of(conn, user_id, flag.memory_id) is None:
                raise NotFoundError(f"no memory {flag.memory_id!r} for this user")
            return risk.append(conn, user_id, flag)

    def risk_flags(
        self, user_id: str, memory_ids: Sequence[str] | None = None
    ) -> dict[str, RiskFlag]:
        with self._reading() as conn:
            return risk.latest(conn, user_id, memory_ids)

    def risk_history(self, user_id: str, memory_id: str) -> list[RiskFlag]:
        with self._reading() as conn:
            return risk.history(conn, user_id, memory_id)

    def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        with self._reading() as conn:
            return reading.history(conn, user_id, memory_id)

    def users(self) -> list[str]:
        with self._reading() as conn:
            rows = conn.execute("SELECT user_id FROM users ORDER BY user_id").fetchall()
            return [str(user_id) for (user_id,) in rows]

    # --- search -------------------------------------------------------------------------------
    def search_vectors(self, user_id: str, space: str, query: Vector, limit: int) -> list[Scored]:
        """Exact cosine over the user's active vectors in ``space``, best first."""
        with self._reading() as conn:
            return reading.search_vectors(conn, self._cache, user_id, space, query, limit)

    def search_text(self, user_id: str, kind: Kind, query: str, limit: int) -> list[Scored]:
        """BM25 over the user's active memories of ``kind``; any query text is safe."""
        with self._reading() as conn:
            return reading.search_text(conn, user_id, kind, query, limit)

    # --- export / import ----------------------------------------------------------------------
    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """The header, then every row of the user by type (see :mod:`tmem.store.codec`).

        The rows are read in one snapshot before the first is yielded, so a slow consumer
        never holds the store's lock.
        """
        with self._reading() as conn:
            rows = [codec.export_header(read_meta(conn).embedder, self._clock.now())]
            for kind in RECORD_TYPES:
                rows.extend(fetch_rows(conn, kind, user_id))
        return iter(rows)

    def import_records(self, user_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Load an export into ``user_id`` in one transaction, ids kept; return rows written.

        Raises:
            InputError: not a tmem export, or a malformed record.
            EmbedderMismatchError: the export's embedder differs from the store's.
        """
        embedder, rows = codec.split_export(list(records))
        with self._writing() as conn:
            if embedder is not None:
                self._bind(conn, embedder)
            bound = read_meta(conn).embedder
            rows = without_forgotten(rows, reading.forgotten(conn, user_id))
            for row in rows:
                _import_row(conn, user_id, row, bound[1] if bound else None)
            next_seq = max((int(r["seq"]) + 1 for r in rows if r["type"] == "turn"), default=0)
            self._touch(conn, user_id, next_seq)
        return len(rows)

    # --- background jobs ----------------------------------------------------------------------
    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str:
        """Queue a job for ``user_id``, due at ``now`` (the store's clock); return its id."""
        with self._writing() as conn:
            return service.enqueue(conn, kind, payload, user_id, now or self._clock.now())

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None:
        """Take the oldest due job (or one whose lease ran out) for ``worker_id``, if any.

        The claim is one ``BEGIN IMMEDIATE`` transaction, so workers in any thread or process
        on this host never receive the same job.
        """
        with self._writing() as conn:
            return service.claim(conn, worker_id, lease, now or self._clock.now())

    def renew_job(self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE) -> None:
        """Extend the lease ``worker_id`` holds on a running job to ``lease`` from now.

        Raises:
            NotFoundError: the worker no longer holds the job (another took it over).
        """
        with self._writing() as conn:
            service.renew(conn, job_id, worker_id, lease, self._clock.now())

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None:
        """Mark a job done with its ``result``.

        With ``worker_id``, only while that worker still holds the job: a worker whose job
        another worker took over gets ``NotFoundError``, as for an unknown job.
        """
        with self._writing() as conn:
            service.finish(conn, job_id, result, worker_id, self._clock.now())

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
        with self._writing() as conn:
            service.fail(conn, job_id, error, retry_at, worker_id, self._clock.now())

    def get_job(self, job_id: str, user_id: str) -> Job | None:
        """The job as last recorded, if it exists and belongs to ``user_id``."""
        with self._reading() as conn:
            return service.get_job(conn, job_id, user_id)

    # --- API keys and idempotency ----------------------------------------------------------------
    def add_api_key(self, key: ApiKey) -> None:
        """Store ``key`` (its hash, never the secret); a duplicate id or hash is refused."""
        with self._writing() as conn:
            service.add_api_key(conn, key)

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, if any."""
        with self._reading() as conn:
            return service.api_key_by_hash(conn, hash)

    def revoke_api_key(self, key_id: str, at: datetime) -> bool:
        """Revoke a live key; False if there is no such key or it was already revoked."""
        with self._writing() as conn:
            return service.revoke_api_key(conn, key_id, at)

    def api_keys(self, tenant: str | None = None) -> list[ApiKey]:
        """Every key (of ``tenant``), revoked ones included, by tenant and age."""
        with self._reading() as conn:
            return service.api_keys(conn, tenant)

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None:
        with self._reading() as conn:
            return service.idempotency_get(conn, tenant, key)

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless one exists for (tenant, key); return the stored one."""
        with self._writing() as conn:
            return service.idempotency_put(conn, record)

    def idempotency_purge(self, before: datetime) -> int:
        """Forget idempotency records created before ``before``; return how many."""
        with self._writing() as conn:
            return service.idempotency_purge(conn, before)

    def purge_jobs(self, before: datetime) -> int:
        """Delete finished jobs last updated before ``before``; return how many."""
        with self._writing() as conn:
            return service.purge_jobs(conn, before)

    # Last in the class: inside it, the name ``list`` means this method, not the builtin.
    def list(
        self, user_id: str, kind: Kind | None = None, *, include_superseded: bool = False
    ) -> list[Record]:
        """Memories of a user in time order (turns by ``seq``)."""
        with self._reading() as conn:
            return reading.list_memories(conn, user_id, kind, include_superseded)


def _next_seq(conn: sqlite3.Connection, user_id: str) -> int:
    row = conn.execute("SELECT next_seq FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return 0 if row is None else int(row[0])


def _current_text(record: Record) -> str:
    """The field :meth:`SQLiteStore.update_memory` replaces, as it is now."""
    if isinstance(record, Scene):
        return record.narrative
    return record.content


def _with_text(record: Record, content: str) -> Record:
    if isinstance(record, Scene):
        return replace(record, narrative=content)
    return replace(record, content=content)


def _row_of(conn: sqlite3.Connection, user_id: str, record: Record, version: int) -> Row:
    if isinstance(record, Scene):
        return codec.scene_to_dict(record, version=version)
    if isinstance(record, Item):
        return codec.item_to_dict(record, version=version)
    scene_id, pending = conn.execute(
        "SELECT scene_id, pending FROM turns WHERE user_id = ? AND id = ?", (user_id, record.id)
    ).fetchone()
    return codec.turn_to_dict(record, scene_id=scene_id, pending=bool(pending))


def _import_row(conn: sqlite3.Connection, user_id: str, row: Row, dim: int | None) -> None:
    try:
        if row["type"] == "vector":
            write_vector(conn, user_id, codec.vector_from_dict(row), dim)
        else:
            put_row(conn, user_id, row)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"malformed {row.get('type')} record: {exc!r}") from None
