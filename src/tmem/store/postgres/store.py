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

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import psycopg

from tmem.clock import Clock, SystemClock
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
from tmem.store.policy import Forgetting
from tmem.store.postgres import delete, pages, read, risk, search
from tmem.store.postgres.connection import ConnectionPool, Cursor, run
from tmem.store.postgres.export import export_rows
from tmem.store.postgres.migrate import bind, bound_embedder, migrate, read_meta, vector_dim
from tmem.store.postgres.service import PostgresServiceStore
from tmem.store.postgres.steps import PostgresSteps
from tmem.store.postgres.write import lock_user, touch_user
from tmem.store.service_aliases import ServiceAliases
from tmem.store.version import tmem_version

T = TypeVar("T")


class PostgresStore(ServiceAliases):
    """A :class:`~tmem.store.base.Store` in a Postgres database, shareable across threads,
    processes and machines; :meth:`service` gives its :class:`~tmem.store.base.ServiceStore`.

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
            applied = self._run(None, lambda cursor: migrate(cursor, tmem_version()))
        except BaseException:
            self._pool.close()
            raise
        self.applied_migrations: tuple[str, ...] = tuple(applied)
        """The migrations this open applied, oldest first (none if the schema was current)."""
        self._service = PostgresServiceStore(self._pool, self._where)

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

    def _planned(self, user_id: str, work: Callable[[PostgresSteps], T]) -> T:
        """Run :mod:`tmem.store.plan` ``work`` as a write of ``user_id`` (see :meth:`_locked`)."""
        return self._locked(user_id, lambda cursor: work(PostgresSteps(cursor)))

    # --- lifecycle ----------------------------------------------------------------------------
    def service(self) -> PostgresServiceStore:
        """Jobs, API keys and idempotency records, in this store's database."""
        return self._service

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
        """Apply ``batch`` atomically: all of it or none of it (:func:`.plan.write_batch`)."""
        self._planned(batch.user_id, lambda steps: plan.write_batch(steps, batch))

    def next_seq(self, user_id: str) -> int:
        return self._run(user_id, lambda cursor: read.next_seq(cursor, user_id))

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

        def work(steps: PostgresSteps) -> Record:
            updated = plan.update_memory(steps, user_id, memory_id, content, vectors, at)
            touch_user(steps.cursor, user_id)
            return updated

        return self._planned(user_id, work)

    def plan_forget(self, user_id: str, memory_id: str) -> Forgetting:
        """What :meth:`delete_memory` would erase and send back to waiting, as of now."""
        return self._run(
            user_id, lambda cursor: plan.plan_forget_of(PostgresSteps(cursor), user_id, memory_id)
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
        return self._planned(
            user_id, lambda steps: plan.forget(steps, user_id, memory_id, at, context)
        )

    def edit_persona(self, user_id: str, edit: PersonaEdit, at: datetime) -> PersonaEntry:
        """Write a persona entry by hand (:func:`.plan.edit_persona`)."""
        return self._planned(user_id, lambda steps: plan.edit_persona(steps, user_id, edit, at))

    def delete_persona_entry(self, user_id: str, entry_id: str, at: datetime) -> int:
        """Erase a persona entry (dead tuples stay until VACUUM, as for :meth:`delete_memory`)."""
        return self._planned(
            user_id, lambda steps: plan.delete_persona_entry(steps, user_id, entry_id, at)
        )

    def set_instructions(self, user_id: str, text: str, at: datetime) -> None:
        self._planned(user_id, lambda steps: plan.set_instructions(steps, user_id, text, at))

    def delete_user(self, user_id: str) -> int:
        """Delete every row of this user, history and queued jobs included; return rows removed."""
        return self._locked(
            user_id,
            lambda cursor: delete.delete_user(
                cursor, user_id, vector_dim(read_meta(cursor)) is not None
            ),
        )

    # --- reads --------------------------------------------------------------------------------
    def get(self, user_id: str, memory_id: str) -> Record | None:
        return self.get_many(user_id, [memory_id]).get(memory_id)

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]:
        return self._run(user_id, lambda cursor: read.get_many(cursor, user_id, memory_ids))

    def turns(self, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
        """Turns in the order of ``turn_ids``; unknown ids are skipped."""
        return self._run(user_id, lambda cursor: read.turns(cursor, user_id, turn_ids))

    def recent_turns(self, user_id: str, limit: int) -> list[Turn]:
        return self._run(user_id, lambda cursor: read.recent_turns(cursor, user_id, limit))

    def last_scene(self, user_id: str) -> Scene | None:
        return self._run(user_id, lambda cursor: read.last_scene(cursor, user_id))

    def pending_turns(self, user_id: str) -> list[Turn]:
        return self._run(user_id, lambda cursor: read.pending_turns(cursor, user_id))

    def triggers_for(self, user_id: str, trigger_ids: Sequence[str]) -> list[Trigger]:
        return self._run(user_id, lambda cursor: read.triggers_for(cursor, user_id, trigger_ids))

    def triggers_of(self, user_id: str, memory_id: str) -> list[Trigger]:
        return self._run(user_id, lambda cursor: read.triggers_of(cursor, user_id, memory_id))

    def persona_entries(self, user_id: str) -> list[PersonaEntry]:
        return self._run(user_id, lambda cursor: read.persona_entries(cursor, user_id))

    def instructions(self, user_id: str) -> str:
        found = self._run(user_id, lambda cursor: read.instructions(cursor, user_id))
        return "" if found is None else found[0]

    def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        return self._run(user_id, lambda cursor: read.history(cursor, user_id, memory_id))

    def review_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        return self._run(
            user_id, lambda cursor: plan.review_risk(PostgresSteps(cursor), user_id, flag)
        )

    def risk_flags(
        self, user_id: str, memory_ids: Sequence[str] | None = None
    ) -> dict[str, RiskFlag]:
        return self._run(user_id, lambda cursor: risk.latest(cursor, user_id, memory_ids))

    def risk_history(self, user_id: str, memory_id: str) -> list[RiskFlag]:
        return self._run(user_id, lambda cursor: risk.history(cursor, user_id, memory_id))

    def users(self) -> list[str]:
        return self._run(None, read.users)

    # --- pages (tmem.store.keyset) ------------------------------------------------------------
    def list_page(
        self, user_id: str, kind: Kind | None, after: Position | None, limit: int
    ) -> Chunk[Record]:
        """Up to ``limit`` memories after ``after``: turns by seq, then scenes and items in
        creation order; superseded items left out."""
        return self._run(
            user_id, lambda cursor: pages.list_page(cursor, user_id, kind, after, limit)
        )

    def history_page(
        self, user_id: str, memory_id: str, after: Position | None, limit: int
    ) -> Chunk[HistoryEntry]:
        return self._run(
            user_id, lambda cursor: pages.history_page(cursor, user_id, memory_id, after, limit)
        )

    def export_page(
        self, user_id: str, after: Position | None, limit: int
    ) -> Chunk[dict[str, Any]]:
        """Up to ``limit`` rows of :meth:`export` after ``after``, in one transaction."""

        def work(cursor: Cursor) -> Chunk[dict[str, Any]]:
            meta = read_meta(cursor)
            header = codec.export_header(bound_embedder(meta), self._clock.now())
            has_vectors = vector_dim(meta) is not None
            return pages.export_page(cursor, user_id, after, limit, header, has_vectors)

        return self._run(user_id, work)

    # --- search -------------------------------------------------------------------------------
    def search_vectors(self, user_id: str, space: str, query: Vector, limit: int) -> list[Scored]:
        """Nearest vectors by dot product (cosine for unit vectors), best first."""

        def work(cursor: Cursor) -> list[Scored]:
            dim = vector_dim(read_meta(cursor))
            return search.search_vectors(cursor, user_id, space, query, limit, dim)

        return self._run(user_id, work)

    def search_text(self, user_id: str, kind: Kind, query: str, limit: int) -> list[Scored]:
        """Full-text matches among the user's active memories of ``kind``; any text is safe."""
        return self._run(
            user_id, lambda cursor: search.search_text(cursor, user_id, kind, query, limit)
        )

    # --- export / import ----------------------------------------------------------------------
    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """The header, then every row of the user by type (see :mod:`tmem.store.codec`)."""

        def work(cursor: Cursor) -> list[dict[str, Any]]:
            meta = read_meta(cursor)
            header = codec.export_header(bound_embedder(meta), self._clock.now())
            return [header, *export_rows(cursor, user_id, vector_dim(meta) is not None)]

        return iter(self._run(user_id, work))

    def import_records(self, user_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Load an export into ``user_id`` in one transaction, ids kept; return rows written.

        Raises:
            InputError: not a tmem export, or a malformed record.
            EmbedderMismatchError: the export's embedder differs from the store's.
        """
        embedder, rows = codec.split_export(list(records))

        def work(steps: PostgresSteps) -> int:
            if embedder is not None:
                bind(steps.cursor, embedder, self._where)
            return len(plan.import_rows(steps, user_id, rows, self._clock.now()))

        return self._planned(user_id, work)

    # Last in the class: inside it, the name ``list`` means this method, not the builtin.
    def list(
        self, user_id: str, kind: Kind | None = None, *, include_superseded: bool = False
    ) -> list[Record]:
        """Memories of a user in time order (turns by ``seq``)."""
        return self._run(
            user_id,
            lambda cursor: read.list_memories(cursor, user_id, kind, include_superseded),
        )


def _redacted(url: str) -> str:
    """``url`` without its password, for messages and ``repr``."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "<unparsable Postgres URL>"
    host, database = info.get("host", ""), info.get("dbname", "")
    return f"postgresql://{info.get('user', '')}@{host}/{database}"
