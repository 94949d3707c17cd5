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
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from tmem.clock import Clock, SystemClock
from tmem.errors import EmbedderMismatchError, StoreError
from tmem.models import (
    HistoryEntry,
    Kind,
    PersonaEntry,
    Record,
    RiskFlag,
    Scene,
    Trigger,
    Turn,
)
from tmem.paging import Chunk, Position
from tmem.persona.entries import PersonaEdit
from tmem.store import codec, plan
from tmem.store.base import Scored, Vector, VectorRow, WriteBatch
from tmem.store.forget_cache import PlanCache
from tmem.store.policy import Forgetting
from tmem.store.service_aliases import ServiceAliases
from tmem.store.sqlite import delete, jobs, pages, read, risk, search
from tmem.store.sqlite.connection import Connection
from tmem.store.sqlite.export import export_rows
from tmem.store.sqlite.migrate import migrate, next_generation, read_meta, write_embedder
from tmem.store.sqlite.service import SQLiteServiceStore
from tmem.store.sqlite.steps import SQLiteSteps
from tmem.store.vectors import VectorCache, batch_delta
from tmem.store.version import tmem_version


class SQLiteStore(ServiceAliases):
    """A :class:`~tmem.store.base.Store` in one SQLite file, shareable across threads and
    processes on one host; :meth:`service` gives its :class:`~tmem.store.base.ServiceStore`.

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
        self._cache = VectorCache()
        self._plans = PlanCache()
        self._connection = Connection(self.path, durable=durable)
        try:
            applied = migrate(
                self._connection.raw,
                tmem_version=tmem_version(),
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
        self._service = SQLiteServiceStore(self._connection, self._clock)

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

    def _register(self, conn: sqlite3.Connection, user_id: str) -> None:
        """Make ``user_id`` a known user. Rows no search reads changed (persona entries,
        instructions), so an existing user keeps its generation and its cached matrices."""
        if read.generation(conn, user_id) is None:
            self._bump(conn, user_id)

    # --- lifecycle ----------------------------------------------------------------------------
    def service(self) -> SQLiteServiceStore:
        """Jobs, API keys and idempotency records, in this store's file."""
        return self._service

    def bind_embedder(self, name: str, dim: int) -> None:
        """Record the embedder on first use; raise ``EmbedderMismatchError`` on a different one."""
        with self._connection.writing() as conn:
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
        with self._connection.reading() as conn:
            return read_meta(conn).embedder

    def close(self) -> None:
        with self._connection.lock:
            self._connection.close()
            self._cache.clear()

    # --- writes -------------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically: all of it or none of it (:func:`.plan.write_batch`)."""
        delta = batch_delta(batch)
        # BEGIN IMMEDIATE holds the file's write lock: no other process writes until COMMIT,
        # so what the batch was planned on cannot change between its check and the write.
        with self._connection.writing() as conn:
            before = read.generation(conn, batch.user_id)
            erased = plan.write_batch(SQLiteSteps(conn), batch)
            next_seq = max((turn.seq + 1 for turn in batch.turns), default=0)
            after = self._bump(conn, batch.user_id, next_seq)
            # Carry cached matrices through the write instead of reloading them. If the commit
            # fails, the stored generation stays ``before`` and the next search reloads.
            self._cache.advance(batch.user_id, before, after, None if erased else delta)

    def next_seq(self, user_id: str) -> int:
        with self._connection.reading() as conn:
            return read.next_seq(conn, user_id)

    def update_memory(
        self,
        user_id: str,
        memory_id: str,
        content: str,
        vectors: Sequence[VectorRow],
        at: datetime,
    ) -> Record:
        """Replace a memory's text (a scene's narrative) and all its vectors; log ``updated``."""
        with self._connection.writing() as conn:
            updated = plan.update_memory(
                SQLiteSteps(conn), user_id, memory_id, content, vectors, at
            )
            self._touch(conn, user_id)
            return updated

    def plan_forget(self, user_id: str, memory_id: str) -> Forgetting:
        """What :meth:`delete_memory` would erase and send back to waiting, as of now.

        The plan is kept with the user's generation: :meth:`delete_memory` reuses it when the
        user has not changed since, instead of loading the user's memory graph again while it
        holds the file's write lock, which every other writer waits for.
        """
        with self._connection.reading() as conn:
            planned = plan.plan_forget_of(SQLiteSteps(conn), user_id, memory_id)
            self._plans.keep(user_id, memory_id, read.generation(conn, user_id), planned)
        return planned

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
        with self._connection.writing() as conn:
            planned = self._plans.take(user_id, memory_id, read.generation(conn, user_id))
            removed = plan.forget(SQLiteSteps(conn), user_id, memory_id, at, context, planned)
            self._touch(conn, user_id)
        self._connection.checkpoint()
        return removed

    def edit_persona(self, user_id: str, edit: PersonaEdit, at: datetime) -> PersonaEntry:
        """Write a persona entry by hand (:func:`.plan.edit_persona`)."""
        with self._connection.writing() as conn:
            entry = plan.edit_persona(SQLiteSteps(conn), user_id, edit, at)
            self._register(conn, user_id)
            return entry

    def delete_persona_entry(self, user_id: str, entry_id: str, at: datetime) -> int:
        """Erase a persona entry, then checkpoint the WAL as :meth:`delete_memory` does."""
        with self._connection.writing() as conn:
            removed = plan.delete_persona_entry(SQLiteSteps(conn), user_id, entry_id, at)
        self._connection.checkpoint()
        return removed

    def set_instructions(self, user_id: str, text: str, at: datetime) -> None:
        with self._connection.writing() as conn:
            plan.set_instructions(SQLiteSteps(conn), user_id, text, at)
            self._register(conn, user_id)

    def delete_user(self, user_id: str) -> int:
        """Delete every row of this user, history and jobs included; return rows removed."""
        with self._connection.writing() as conn:
            next_generation(conn)
            removed = delete.delete_user(conn, user_id) + jobs.delete_jobs(conn, user_id)
            self._cache.forget(user_id)
        self._connection.checkpoint()
        return removed

    # --- reads --------------------------------------------------------------------------------
    def get(self, user_id: str, memory_id: str) -> Record | None:
        return self.get_many(user_id, [memory_id]).get(memory_id)

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]:
        with self._connection.reading() as conn:
            return read.get_many(conn, user_id, memory_ids)

    def turns(self, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
        """Turns in the order of ``turn_ids``; unknown ids are skipped."""
        with self._connection.reading() as conn:
            return read.turns(conn, user_id, turn_ids)

    def recent_turns(self, user_id: str, limit: int) -> list[Turn]:
        with self._connection.reading() as conn:
            return read.recent_turns(conn, user_id, limit)

    def last_scene(self, user_id: str) -> Scene | None:
        with self._connection.reading() as conn:
            return read.last_scene(conn, user_id)

    def pending_turns(self, user_id: str) -> list[Turn]:
        with self._connection.reading() as conn:
            return read.pending_turns(conn, user_id)

    def triggers_for(self, user_id: str, trigger_ids: Sequence[str]) -> list[Trigger]:
        with self._connection.reading() as conn:
            return read.triggers_for(conn, user_id, trigger_ids)

    def triggers_of(self, user_id: str, memory_id: str) -> list[Trigger]:
        with self._connection.reading() as conn:
            return read.triggers_of(conn, user_id, memory_id)

    def persona_entries(self, user_id: str) -> list[PersonaEntry]:
        with self._connection.reading() as conn:
            return read.persona_entries(conn, user_id)

    def instructions(self, user_id: str) -> str:
        with self._connection.reading() as conn:
            return read.instructions(conn, user_id)

    def review_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        with self._connection.writing() as conn:
            return plan.review_risk(SQLiteSteps(conn), user_id, flag)

    def risk_flags(
        self, user_id: str, memory_ids: Sequence[str] | None = None
    ) -> dict[str, RiskFlag]:
        with self._connection.reading() as conn:
            return risk.latest(conn, user_id, memory_ids)

    def risk_history(self, user_id: str, memory_id: str) -> list[RiskFlag]:
        with self._connection.reading() as conn:
            return risk.history(conn, user_id, memory_id)

    def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        with self._connection.reading() as conn:
            return read.history(conn, user_id, memory_id)

    def users(self) -> list[str]:
        with self._connection.reading() as conn:
            return read.users(conn)

    # --- pages (tmem.store.keyset) ------------------------------------------------------------
    def list_page(
        self, user_id: str, kind: Kind | None, after: Position | None, limit: int
    ) -> Chunk[Record]:
        """Up to ``limit`` memories after ``after``: turns by seq, then scenes and items in
        creation order; superseded items left out."""
        with self._connection.reading() as conn:
            return pages.list_page(conn, user_id, kind, after, limit)

    def history_page(
        self, user_id: str, memory_id: str, after: Position | None, limit: int
    ) -> Chunk[HistoryEntry]:
        with self._connection.reading() as conn:
            return pages.history_page(conn, user_id, memory_id, after, limit)

    def export_page(
        self, user_id: str, after: Position | None, limit: int
    ) -> Chunk[dict[str, Any]]:
        """Up to ``limit`` rows of :meth:`export` after ``after``, read in one snapshot."""
        with self._connection.reading() as conn:
            header = codec.export_header(read_meta(conn).embedder, self._clock.now())
            return pages.export_page(conn, user_id, after, limit, header)

    # --- search -------------------------------------------------------------------------------
    def search_vectors(self, user_id: str, space: str, query: Vector, limit: int) -> list[Scored]:
        """Exact cosine over the user's active vectors in ``space``, best first."""
        with self._connection.reading() as conn:
            return search.search_vectors(conn, self._cache, user_id, space, query, limit)

    def search_text(self, user_id: str, kind: Kind, query: str, limit: int) -> list[Scored]:
        """BM25 over the user's active memories of ``kind``; any query text is safe."""
        with self._connection.reading() as conn:
            return search.search_text(conn, user_id, kind, query, limit)

    # --- export / import ----------------------------------------------------------------------
    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """The header, then every row of the user by type (see :mod:`tmem.store.codec`).

        The rows are read in one snapshot before the first is yielded, so a slow consumer
        never holds the store's lock.
        """
        with self._connection.reading() as conn:
            header = codec.export_header(read_meta(conn).embedder, self._clock.now())
            rows = [header, *export_rows(conn, user_id)]
        return iter(rows)

    def import_records(self, user_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Load an export into ``user_id`` in one transaction, ids kept; return rows written.

        Raises:
            InputError: not a tmem export, or a malformed record.
            EmbedderMismatchError: the export's embedder differs from the store's.
        """
        embedder, rows = codec.split_export(list(records))
        with self._connection.writing() as conn:
            if embedder is not None:
                self._bind(conn, embedder)
            kept = plan.import_rows(SQLiteSteps(conn), user_id, rows, self._clock.now())
            next_seq = max((int(r["seq"]) + 1 for r in kept if r["type"] == "turn"), default=0)
            self._touch(conn, user_id, next_seq)
        return len(kept)

    # Last in the class: inside it, the name ``list`` means this method, not the builtin.
    def list(
        self, user_id: str, kind: Kind | None = None, *, include_superseded: bool = False
    ) -> list[Record]:
        """Memories of a user in time order (turns by ``seq``)."""
        with self._connection.reading() as conn:
            return read.list_memories(conn, user_id, kind, include_superseded)
