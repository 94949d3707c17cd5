"""The storage seam: what the engine asks of a store, and nothing about how it is done.

Every method takes ``user_id`` and every implementation scopes every query by it inside the
store itself; the engine never sees another user's rows. Dialect details (FTS5 vs tsvector,
numpy vs pgvector) stay behind this protocol.

Vector *spaces* name what a vector embeds:

========== ==================================================
space       owner id is a ...
========== ==================================================
turn        turn (its own text)
context     turn (the turn with its neighbours in its scene)
scene       scene (title + summary + narrative)
dialogue    scene (its raw turns)
item        item (content + keywords + query patterns ...)
entity      Entity trigger (the concept)
bridge      Bridge trigger (the "cue -> inference" text)
scene_trigger  Scene trigger (one facet sentence)
horizon     Horizon trigger (one channel sentence)
========== ==================================================
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from tmem.models import (
    HistoryEntry,
    Item,
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
from tmem.persona.merge import PersonaDelta
from tmem.spaces import SPACE_NAMES

Vector = npt.NDArray[np.float32]

SPACES: tuple[str, ...] = SPACE_NAMES
"""Every vector space a store keeps (declared in :mod:`tmem.spaces`)."""


@dataclass(frozen=True)
class VectorRow:
    """One embedding: ``owner_id`` (a memory or trigger id) in ``space``."""

    owner_id: str
    space: str
    vector: Vector


@dataclass(frozen=True)
class Supersession:
    """``old_id`` is replaced by ``new_id`` (a newer, contradicting fact)."""

    old_id: str
    new_id: str
    reason: str = ""


@dataclass(frozen=True)
class Basis:
    """What a batch was planned on, re-checked by the store inside the write transaction.

    Sequence numbers and scene membership are decided before the write (grouping, embedding
    and LLM calls take time), so another thread, process or machine may have written the same
    user meanwhile. The store compares this basis with what is stored while it holds the user's
    write lock; on any difference it writes nothing and raises
    :class:`~tmem.errors.WriteConflictError`, and the caller plans again (issue 12).
    """

    next_seq: int | None = None
    """The user's next sequence number when the batch's new turns were numbered."""
    scenes: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Scenes the batch extends or takes turns from, each with its source turns as read."""
    unplaced: tuple[str, ...] = ()
    """Stored turns the batch places in a scene, read as belonging to none."""


@dataclass(frozen=True)
class WriteBatch:
    """Everything one ingest step writes, applied by :meth:`Store.write` in one transaction.

    Scenes and items with an id that already exists replace the stored version (a scene
    extended by a later session keeps its id). Triggers with an existing id replace it too.
    ``scene_of_turn`` links turns to the scene that now holds them; a scene left holding no
    turn (every turn re-derived into new scenes) is erased in the same transaction, with what
    the deletion cascade takes along, so it is never found next to its replacements.
    """

    user_id: str
    at: datetime
    turns: tuple[Turn, ...] = ()
    scenes: tuple[Scene, ...] = ()
    items: tuple[Item, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    vectors: tuple[VectorRow, ...] = ()
    supersessions: tuple[Supersession, ...] = ()
    persona_deltas: tuple[PersonaDelta, ...] = ()
    """What extraction learned about speakers, merged into the stored persona entries inside
    the write's transaction, so a pin or hand edit made meanwhile is respected
    (:func:`tmem.persona.merge_entries`)."""
    scene_of_turn: tuple[tuple[str, str], ...] = ()
    delete_triggers_of: tuple[str, ...] = ()
    """Memory ids whose existing triggers are dropped before ``triggers`` are written."""
    pending_turns: tuple[str, ...] = field(default=())
    """Turn ids whose LLM derivation failed; ``tmem reindex`` retries them."""
    done_turns: tuple[str, ...] = field(default=())
    """Turn ids whose derivation succeeded: clears their pending mark (their ``turn`` and
    ``context`` vectors stay: search ranks every turn by them)."""
    basis: Basis | None = None
    """What the batch was planned on (checked before anything is written); None: unchecked."""
    risks: tuple[RiskFlag, ...] = field(default=())
    """The detector's flags for memories in this batch; stored only for memories that have no
    flag entry yet, so an operator's review is never undone by a later write."""


@dataclass(frozen=True)
class Forgetting:
    """The outcome of forgetting ``requested`` by :func:`tmem.store.policy.plan_forget`; every
    tuple sorted.

    Attributes:
        requested: the memory asked for.
        turns: turns erased (the requested one, when it is a turn).
        scenes: scenes erased.
        items: items erased.
        triggers: triggers erased.
        waiting: surviving turns that go back to waiting.
    """

    requested: str
    turns: tuple[str, ...] = ()
    scenes: tuple[str, ...] = ()
    items: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    waiting: tuple[str, ...] = ()

    def tombstone(self, erased: str) -> str:
        """The history ``detail`` of ``erased``'s tombstone: its kind, and the deletion that
        took it when that was another memory's (``"scene, with t3"``)."""
        kind = "turn" if erased in self.turns else "scene" if erased in self.scenes else "item"
        return kind if erased == self.requested else f"{kind}, with {self.requested}"

    @property
    def memories(self) -> tuple[str, ...]:
        """Every memory erased, the requested one first."""
        rest = (m for m in (*self.turns, *self.scenes, *self.items) if m != self.requested)
        return (self.requested, *rest)


@dataclass(frozen=True)
class Scored:
    """A search candidate: an id and its raw score in one channel (larger is better)."""

    id: str
    score: float


JobStatus = Literal["queued", "running", "done", "failed"]
DEFAULT_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Job:
    """One unit of background work for one user, as the queue last recorded it.

    A job moves ``queued -> running -> done``; a failure either ends it (``failed``) or puts it
    back in the queue with a later ``run_at``. A claim holds a lease: a ``running`` job whose
    lease ran out (its worker died) can be claimed again, and every claim counts an attempt.
    """

    id: str
    user_id: str
    kind: str
    payload: Mapping[str, Any]
    status: JobStatus
    attempts: int
    run_at: datetime
    created_at: datetime
    updated_at: datetime
    worker_id: str | None = None
    lease_until: datetime | None = None
    result: Mapping[str, Any] | None = field(default=None)
    error: str = ""


JOB_COLUMNS = (
    "id, user_id, kind, payload, status, attempts, run_at, created_at, updated_at, "
    "worker_id, lease_until, result, error"
)
"""The job table's columns in :class:`Job`'s field order (both wings' SQL lists them so)."""


@dataclass(frozen=True)
class ApiKey:
    """A service API key as stored: only a hash of the secret is kept.

    ``tenant`` scopes everything the key can read or write; the service maps a request's
    ``user_id`` into the tenant's own namespace, so two tenants can never meet.
    """

    id: str
    tenant: str
    hash: str
    created_at: datetime
    revoked_at: datetime | None = None
    label: str = ""


@dataclass(frozen=True)
class IdempotencyRecord:
    """The stored outcome of a request made with an ``Idempotency-Key``."""

    tenant: str
    key: str
    request_hash: str
    status: int
    response: Mapping[str, Any]
    created_at: datetime


@runtime_checkable
class ServiceStore(Protocol):
    """What the REST service needs beyond :class:`Store`: jobs, API keys, idempotency.

    :meth:`Store.service` gives a store's; both wings have one (``SQLiteServiceStore``,
    ``PostgresServiceStore``). Jobs are claimed atomically (SQLite:
    ``BEGIN IMMEDIATE``; Postgres: ``SELECT ... FOR UPDATE SKIP LOCKED``), so any number of
    workers can share one queue.
    """

    def enqueue_job(
        self, kind: str, payload: Mapping[str, Any], user_id: str, *, now: datetime | None = None
    ) -> str: ...

    def claim_job(
        self, worker_id: str, *, lease: timedelta = DEFAULT_LEASE, now: datetime | None = None
    ) -> Job | None: ...

    def renew_job(
        self, job_id: str, worker_id: str, *, lease: timedelta = DEFAULT_LEASE
    ) -> None: ...

    def finish_job(
        self, job_id: str, result: Mapping[str, Any], *, worker_id: str | None = None
    ) -> None: ...

    def fail_job(
        self,
        job_id: str,
        error: str,
        retry_at: datetime | None,
        *,
        worker_id: str | None = None,
    ) -> None:
        """Record a failure: retry at ``retry_at``, or give up (``failed``) when it is None."""
        ...

    def get_job(self, job_id: str, user_id: str) -> Job | None: ...

    def add_api_key(self, key: ApiKey) -> None: ...

    def api_key_by_hash(self, hash: str) -> ApiKey | None:
        """The live (not revoked) key with this hash, if any."""
        ...

    def revoke_api_key(self, key_id: str, at: datetime) -> bool: ...

    def idempotency_get(self, tenant: str, key: str) -> IdempotencyRecord | None: ...

    def idempotency_put(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless one exists for (tenant, key); return the stored one."""
        ...

    def idempotency_purge(self, before: datetime) -> int:
        """Forget idempotency records created before ``before``; return how many."""
        ...

    def purge_jobs(self, before: datetime) -> int:
        """Delete finished (done or failed) jobs last updated before ``before``; return how many.

        A finished job keeps its result and error but no payload (its messages are emptied
        when it finishes), so purging bounds the queue's size, not its contents.
        """
        ...

    def api_keys(self, tenant: str | None = None) -> builtins.list[ApiKey]:
        """Stored keys (hashes only), of one tenant or all."""
        ...


class Store(Protocol):
    """Persistence for turns, scenes, items, triggers, vectors, persona and history."""

    # --- lifecycle ---------------------------------------------------------------------------
    def service(self) -> ServiceStore:
        """What the REST service needs beyond this protocol (jobs, API keys, idempotency), kept
        in the same database; it lives as long as the store.

        Raises:
            ConfigError: this store cannot back the service.
        """
        ...

    def bind_embedder(self, name: str, dim: int) -> None:
        """Record the embedder on first use; raise ``EmbedderMismatchError`` on a different one."""
        ...

    def close(self) -> None: ...

    # --- writes ------------------------------------------------------------------------------
    def write(self, batch: WriteBatch) -> None:
        """Apply ``batch`` atomically: all of it or none of it.

        Raises:
            WriteConflictError: ``batch.basis`` no longer holds; nothing was written.
        """
        ...

    def next_seq(self, user_id: str) -> int:
        """The sequence number the user's next turn gets (0 for a new user)."""
        ...

    def update_memory(
        self,
        user_id: str,
        memory_id: str,
        content: str,
        vectors: Sequence[VectorRow],
        at: datetime,
    ) -> Record:
        """Replace a memory's text and vectors, append a history entry, return the new record."""
        ...

    def plan_forget(self, user_id: str, memory_id: str) -> Forgetting:
        """What :meth:`delete_memory` would erase and send back to waiting, as of now.

        Raises:
            NotFoundError: the user has no such memory.
        """
        ...

    def delete_memory(
        self,
        user_id: str,
        memory_id: str,
        at: datetime,
        context: Sequence[VectorRow] = (),
    ) -> int:
        """Forget a memory by :mod:`tmem.store.policy`, in one transaction; return rows removed.

        Deleting a turn erases every scene and item resting on it (never trimmed) and the
        triggers pointing at them; the surviving turns those covered go back to waiting
        (pending, searchable as turns through the ``context`` vectors passed in ``context``)
        for the next ``reindex``. History keeps a tombstone (event ``deleted``, empty text);
        finished jobs' payloads are emptied. The erased text is gone from the store's files
        when the call returns (SQLite: WAL checkpoint; Postgres: see docs/postgres.md).

        Raises:
            NotFoundError: the user has no such memory.
        """
        ...

    def delete_user(self, user_id: str) -> int:
        """Delete every row of this user, history included; return rows removed."""
        ...

    def edit_persona(self, user_id: str, edit: PersonaEdit, at: datetime) -> PersonaEntry:
        """Write a persona entry by hand (:func:`tmem.persona.apply_edit`), in one transaction;
        history gets the entry's ``created``, ``updated``, ``pinned`` or ``unpinned`` entry.

        Raises:
            NotFoundError: ``edit.id`` names no entry of the user.
            InputError: the edit is malformed or collides with another entry.
        """
        ...

    def delete_persona_entry(self, user_id: str, entry_id: str, at: datetime) -> int:
        """Erase a persona entry: its row and its history's text (a tombstone stays), gone
        from the store's files when the call returns as for :meth:`delete_memory`; returns 1.

        Raises:
            NotFoundError: the user has no such entry.
        """
        ...

    def set_instructions(self, user_id: str, text: str, at: datetime) -> None:
        """Store the user's extraction instructions (``""`` removes them)."""
        ...

    def review_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        """Append ``flag`` (an operator's review) to the memory's flag history; return it with
        its version. Raises ``NotFoundError`` when the memory does not exist."""
        ...

    def risk_flags(
        self, user_id: str, memory_ids: Sequence[str] | None = None
    ) -> dict[str, RiskFlag]:
        """The current flag entry of each memory that has one (of every memory if None)."""
        ...

    def risk_history(self, user_id: str, memory_id: str) -> builtins.list[RiskFlag]:
        """Every flag entry of a memory, oldest first."""
        ...

    # --- reads -------------------------------------------------------------------------------
    def get(self, user_id: str, memory_id: str) -> Record | None: ...

    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]: ...

    def list(
        self, user_id: str, kind: Kind | None = None, *, include_superseded: bool = False
    ) -> builtins.list[Record]:
        """Memories of a user in time order (turns by ``seq``)."""
        ...

    def turns(self, user_id: str, turn_ids: Sequence[str]) -> builtins.list[Turn]: ...

    def recent_turns(self, user_id: str, limit: int) -> builtins.list[Turn]:
        """The user's last ``limit`` turns, oldest first."""
        ...

    def last_scene(self, user_id: str) -> Scene | None:
        """The most recent scene (the one a new session may continue)."""
        ...

    def pending_turns(self, user_id: str) -> builtins.list[Turn]:
        """Turns whose LLM derivation failed and awaits ``reindex``."""
        ...

    def triggers_for(self, user_id: str, trigger_ids: Sequence[str]) -> builtins.list[Trigger]: ...

    def triggers_of(self, user_id: str, memory_id: str) -> builtins.list[Trigger]:
        """Triggers that point at ``memory_id``."""
        ...

    def persona_entries(self, user_id: str) -> builtins.list[PersonaEntry]:
        """The user's persona entries by speaker, then position."""
        ...

    def instructions(self, user_id: str) -> str:
        """The user's extraction instructions (``""`` when none are stored)."""
        ...

    def history(self, user_id: str, memory_id: str) -> builtins.list[HistoryEntry]: ...

    def users(self) -> builtins.list[str]: ...

    # --- pages: keyset walks, see tmem.store.keyset ---------------------------------------------
    def list_page(
        self, user_id: str, kind: Kind | None, after: Position | None, limit: int
    ) -> Chunk[Record]:
        """Up to ``limit`` memories after ``after`` (None: from the start): turns by
        ``(seq, id)``, then scenes, then items, each by ``(ord, id)`` (creation order);
        superseded items left out. ``Chunk.after`` is None once nothing follows."""
        ...

    def history_page(
        self, user_id: str, memory_id: str, after: Position | None, limit: int
    ) -> Chunk[HistoryEntry]:
        """Up to ``limit`` stored history entries of a memory after ``after``, by version."""
        ...

    def export_page(
        self, user_id: str, after: Position | None, limit: int
    ) -> Chunk[dict[str, Any]]:
        """Up to ``limit`` rows of :meth:`export` after ``after``: the header, then each record
        type in export order, each by its key (scenes and items in creation order). Every page
        is an index range scan, never a read of the whole user."""
        ...

    # --- search ------------------------------------------------------------------------------
    def search_vectors(
        self, user_id: str, space: str, query: Vector, limit: int
    ) -> builtins.list[Scored]:
        """Cosine similarity of ``query`` against the user's vectors in ``space``, best first.

        Only active memories and live triggers are searched.
        """
        ...

    def search_text(
        self, user_id: str, kind: Kind, query: str, limit: int
    ) -> builtins.list[Scored]:
        """BM25 over the user's active memories of ``kind``; any query text is safe."""
        ...

    # --- export / import -----------------------------------------------------------------------
    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Every row of the user as JSON-ready dicts (vectors base64), lossless."""
        ...

    def import_records(self, user_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Load rows produced by :meth:`export` (into ``user_id``); return rows written."""
        ...
