"""``Memory``: tmem's one public entry point."""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from types import TracebackType
from typing import Any

from tmem.clock import Clock, SystemClock
from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.embed.factory import build_embedder
from tmem.embed.verify import default_model_dir
from tmem.errors import InputError, LLMUnavailableError, NotFoundError
from tmem.ingest.pipeline import Ingestor, Progress
from tmem.ingest.vectors import embed_rows, item_text, scene_text, waiting_vectors
from tmem.llm.base import LLM
from tmem.llm.factory import build_llm
from tmem.models import (
    KINDS,
    Answer,
    HistoryEntry,
    Hit,
    IngestReport,
    Item,
    Kind,
    Message,
    Mode,
    Page,
    PersonaEntry,
    Record,
    RiskFlag,
    RiskReason,
    RiskStatus,
    Scene,
    Turn,
    is_plain_scene,
)
from tmem.paging import cursor_for, position_of
from tmem.persona import PersonaEdit, profiles
from tmem.rerank.base import Reranker
from tmem.retrieve.search import Searcher
from tmem.safety import DETECTOR_ID
from tmem.safety.flags import assess_record, derived_flags, flagged_turn_ids, turn_flags
from tmem.spaces import ITEM, SCENE, TURN
from tmem.store import keyset
from tmem.store.base import Store, WriteBatch
from tmem.store.factory import open_store
from tmem.validate import (
    DEFAULT_PAGE_LIMIT,
    MAX_PERSONA_KEY_CHARS,
    MAX_PERSONA_VALUE_CHARS,
    MAX_SPEAKER_CHARS,
    check_instructions,
    check_limit,
    check_lookup_id,
    check_min_similarity,
    check_page_limit,
    check_text,
    check_user_id,
)

REVIEW_VERDICTS: dict[str, RiskStatus] = {"confirm": "confirmed", "clear": "cleared"}


class Memory:
    """Long-term memory for conversational agents.

    Open one with :meth:`open`; every method is scoped to one ``user_id``, and no call can read
    or change another user's memories. Safe to share between threads.

    Example::

        mem = Memory.open("tmem.db")
        mem.add([{"speaker": "Ana", "content": "My colleague Ben is allergic to shellfish."}],
                user_id="ana")
        for hit in mem.search("which venue for the team dinner?", user_id="ana"):
            print(hit.kind, hit.text, hit.reached_by)
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        llm: LLM | None,
        config: Config,
        clock: Clock,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.llm = llm
        self.config = config
        self.clock = clock
        store.bind_embedder(embedder.name, embedder.dim)
        self._ingestor = Ingestor(store, embedder, llm, config, clock.now)
        self.reranker = reranker
        self._searcher = Searcher(
            store,
            embedder,
            config.retrieval,
            reranker,
            (config.reranker.scene_candidates, config.reranker.item_candidates),
        )

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = "tmem.db",
        config: Config | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        clock: Clock | None = None,
        reranker: Reranker | None = None,
    ) -> Memory:
        """Open (creating if needed) a memory at ``path``: a SQLite file, ``:memory:``, or a
        ``postgresql://`` URL. Components not given are built from ``config``."""

        config = (config or Config()).validate()
        if embedder is None and config.embedder.kind == "minilm" and config.embedder.model is None:
            default_model_dir()  # missing weights fail here, naming the fix, not at the first add
        embedder = embedder or build_embedder(config.embedder)
        if llm is None:
            llm = build_llm(config.llm)
        store = store or open_store(
            str(path) if isinstance(path, Path) else os.fspath(path), durable=config.durable
        )
        if reranker is None and config.reranker.enabled:
            from tmem.rerank.http import HTTPReranker

            reranker = HTTPReranker(
                str(config.reranker.base_url),
                str(config.reranker.model),
                str(config.reranker.api_key) if config.reranker.api_key else None,
                timeout_s=config.reranker.timeout_s,
            )
        return cls(store, embedder, llm, config, clock or SystemClock(), reranker)

    @property
    def mode(self) -> Mode:
        """``full`` with an LLM configured, else ``llm-free``."""
        return self._ingestor.mode

    # --- write ---------------------------------------------------------------------------------
    def add(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str,
        session_id: str | None = None,
        *,
        progress: Progress | None = None,
        derive: bool = True,
    ) -> IngestReport:
        """Remember a batch of messages (one session or part of one).

        Messages are dicts or :class:`Message` objects with ``speaker``, ``content`` and
        optionally ``timestamp`` (ISO 8601) and ``id``. Adding is incremental; re-adding a
        message whose ``id`` is already stored is a no-op, so retries never duplicate.

        Args:
            derive: in full mode, derive scenes, items and triggers now. With ``False`` the
                turns are stored and searchable at once, grouped into plain scenes without an
                LLM call, and :meth:`reindex` derives everything waiting in one pass: an agent
                that adds every exchange and reindexes at the end of a conversation pays one
                segmentation call per 40 turns instead of two calls per exchange. Ignored
                without an LLM.
            progress: called with (steps done, steps planned): embedded texts in LLM-free mode
                (and with ``derive=False``), LLM calls in full mode, as each one finishes.

        Other processes, workers or servers may add to the same user at the same time: each
        write is checked against what it was planned on inside the store's transaction and
        planned again if another writer got there first.

        Raises:
            InputError: a message is malformed (e.g. a timestamp outside UTC years 1..9999);
                nothing was written.
            WriteConflictError: other writers kept changing this user through every re-plan;
                nothing of this call was written.
        """
        return self._ingestor.add(messages, user_id, session_id, progress, derive)

    def reindex(self, user_id: str, *, progress: Progress | None = None) -> IngestReport:
        """Derive scenes, items and triggers for turns that have none (failed or LLM-free).

        ``progress`` receives (LLM calls done, LLM calls planned) as each call finishes.
        """
        return self._ingestor.reindex(user_id, progress)

    def update(self, id: str, user_id: str, content: str) -> Record:
        """Replace a memory's text; its history keeps the old version."""
        check_user_id(user_id)
        if not isinstance(content, str) or not content.strip():
            raise InputError("content must be a non-empty string")
        record = self.get(id, user_id)
        rows = embed_rows(self.embedder, _vector_texts(record, content))
        updated = self.store.update_memory(user_id, id, content, rows, self.clock.now())
        self._flag_if_injected(user_id, updated)
        return updated

    def _flag_if_injected(self, user_id: str, record: Record) -> None:
        """Flag an edited memory whose new text carries a sign, unless it is flagged already."""
        found = assess_record(record)
        current = self.store.risk_flags(user_id, [record.id]).get(record.id)
        if found.flagged and (current is None or not current.flagged):
            flag = RiskFlag(record.id, "flagged", found.reasons, self.clock.now(), DETECTOR_ID)
            self.store.review_risk(user_id, flag)

    def delete(self, id: str, user_id: str) -> int:
        """Forget a memory; returns rows removed.

        Deleting a turn erases every scene, item and trigger whose text rests on it (never
        trimmed); the other turns those covered wait, searchable as turns, until the next
        :meth:`reindex` derives them again. History keeps only a tombstone.
        """
        check_user_id(user_id)
        plan = self.store.plan_forget(user_id, id)
        waiting = self.store.turns(user_id, plan.waiting)
        context = waiting_vectors(self.embedder, waiting, self.config.embedder.batch_size)
        removed = self.store.delete_memory(user_id, id, self.clock.now(), context)
        if removed == 0:
            raise NotFoundError(f"no memory {id!r} for this user")
        return removed

    def delete_user(self, user_id: str) -> int:
        """Delete every memory of ``user_id``; other users are untouched."""
        return self.store.delete_user(check_user_id(user_id))

    # --- read ----------------------------------------------------------------------------------
    def search(
        self, query: str, user_id: str, limit: int = 10, *, min_similarity: float | None = None
    ) -> builtins.list[Hit]:
        """Recall memories for ``query``, descriptively and associatively, best first.

        Every hit says how it was found: ``reached_by`` names the channels, ``explain`` gives
        each one's rank, raw score and share of the fused score, and the trigger texts that
        matched with their cosines (``docs/architecture.md``, *Scores and explanations*).

        Args:
            limit: at most this many hits (1..1000).
            min_similarity: return only memories that some embedding channel (the memory's own
                text, its context or dialogue, or one of its triggers) scored at least this
                cosine to the query, so unrelated memories need not fill ``limit``; a memory
                only BM25 found never qualifies. The scale is the embedder's: calibrate it from
                the cosines ``explain`` shows. None (the default) cuts nothing.

        Raises:
            InputError: a bad user id, query, limit or ``min_similarity`` (not 0..1).
        """
        check_user_id(user_id)
        if not isinstance(query, str):
            raise InputError("query must be a string")
        check_limit(limit)
        cut = check_min_similarity(min_similarity)
        return self._searcher.search(query, user_id, limit, cut)

    def answer(self, question: str, user_id: str, *, include_flagged: bool = False) -> Answer:
        """Answer ``question`` from this user's memories (needs an LLM).

        Memories flagged as injected instructions (``Hit.risk``) are left out and listed in
        ``Answer.excluded``; with ``include_flagged=True`` they are shown to the model fenced and
        labelled as untrusted quoted data.
        """
        if self.llm is None:
            raise LLMUnavailableError(
                "answer needs an LLM: configure one (TMEM_LLM_BASE_URL and TMEM_LLM_MODEL, "
                "or a local GGUF model); search works without one"
            )
        from tmem.retrieve.answer import answer_question

        limit = self.config.retrieval.scene_limit + self.config.retrieval.item_limit
        hits = self.search(question, user_id, limit=limit)
        records = self.store.get_many(user_id, [h.id for h in hits])
        personas = profiles(self.store.persona_entries(user_id))
        return answer_question(
            self.llm,
            question,
            hits,
            records,
            personas,
            self.clock.now(),
            include_flagged=include_flagged,
        )

    def get(self, id: str, user_id: str) -> Record:
        check_user_id(user_id)
        record = self.store.get(user_id, id)
        if record is None:
            raise NotFoundError(f"no memory {id!r} for this user")
        return record

    def list(self, user_id: str, kind: Kind | None = None) -> builtins.list[Record]:
        """The user's memories in time order, or those of one ``kind`` (turns in the order they
        were added); :meth:`list_page` walks them a page at a time."""
        check_user_id(user_id)
        _check_kind(kind)
        return self.store.list(user_id, kind)

    def list_page(
        self,
        user_id: str,
        kind: Kind | None = None,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        cursor: str | None = None,
    ) -> Page[Record]:
        """One page of the user's memories; pass ``next_cursor`` back as ``cursor`` for the next.

        Pages walk turns in the order they were added, then scenes, then items, each in
        creation order (an order no write changes), superseded items left out as in
        :meth:`list`. A memory stored before the walk began is listed exactly once unless it
        is deleted (or an item superseded) before its page is read; one added meanwhile is
        listed if the walk has not finished its kind yet.

        Raises:
            InputError: ``limit`` is not in 1..1000, or ``cursor`` is not a ``next_cursor`` of
                this listing (another user or kind, another listing, altered).
        """
        check_user_id(user_id)
        _check_kind(kind)
        check_page_limit(limit)
        walk = keyset.list_walk(user_id, kind)
        chunk = self.store.list_page(user_id, kind, position_of(walk, cursor), limit)
        return Page(chunk.items, cursor_for(walk, chunk.after))

    def history(self, id: str, user_id: str) -> builtins.list[HistoryEntry]:
        """Every version of a memory or persona entry, oldest first; a deleted one's history is
        its tombstone. :meth:`history_page` pages through them."""
        check_user_id(user_id)
        entries = self.store.history(user_id, id)
        if entries:
            return entries
        return [self._as_created(id, user_id)]

    def history_page(
        self,
        id: str,
        user_id: str,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        cursor: str | None = None,
    ) -> Page[HistoryEntry]:
        """One page of :meth:`history`, by version; versions written meanwhile come on later
        pages.

        Raises:
            NotFoundError: no such memory (asked without a cursor).
            InputError: as for :meth:`list_page`.
        """
        check_user_id(user_id)
        check_page_limit(limit)
        walk = keyset.history_walk(user_id, id)
        after = position_of(walk, cursor)
        chunk = self.store.history_page(user_id, id, after, limit)
        if after is None and not chunk.items:
            return Page((self._as_created(id, user_id),))
        return Page(chunk.items, cursor_for(walk, chunk.after))

    def _as_created(self, id: str, user_id: str) -> HistoryEntry:
        """The history of a memory that has no stored entry: its creation, as it is now.

        A turn gets its first history row only when edited; until then it is as created.

        Raises:
            NotFoundError: no such memory.
        """
        record = self.store.get(user_id, id)
        if record is None:
            entry = self._persona_entry(id, user_id)
            # A migrated profile's entry has no history row until it is first edited.
            return HistoryEntry(id, 1, "created", entry.value, entry.created_at, entry.origin)
        text = record.narrative if isinstance(record, Scene) else record.content
        return HistoryEntry(id, 1, "created", text, record.timestamp)

    # --- persona -------------------------------------------------------------------------------
    def persona(self, user_id: str) -> builtins.list[PersonaEntry]:
        """The user's persona entries, by speaker, in the order the answer model reads them.

        Extraction writes them (full mode); :meth:`set_persona_entry` writes or corrects one by
        hand, :meth:`pin_persona_entry` protects one from re-derivation, and
        :meth:`history` shows an entry's versions.
        """
        return self.store.persona_entries(check_user_id(user_id))

    def set_persona_entry(
        self,
        user_id: str,
        value: str,
        *,
        id: str | None = None,
        speaker: str | None = None,
        section: str | None = None,
        key: str | None = None,
        pinned: bool | None = None,
    ) -> PersonaEntry:
        """Write a persona entry by hand: entry ``id``'s value, or the value of ``speaker``'s
        ``section`` ``key`` (a new entry, or the one already there: an identity key or a
        relation's person holds one value, a preference or trait key several).

        The entry becomes hand-written (``origin="hand"``): re-derivation never overwrites,
        evicts or removes it, and deleting the turns an extraction stated it in leaves it in
        place. Its history records the edit; ``pinned`` pins or unpins it in the same change.

        Args:
            section: ``identity``, ``preferences``, ``traits`` or ``relations``.
            key: the identity, preference or trait key (normalised: ``"Current Location"`` is
                ``current_location``), or the related person's name.

        Raises:
            InputError: neither ``id`` nor a whole slot, both, or text too long or blank.
            NotFoundError: ``id`` names no entry of the user.
        """
        check_user_id(user_id)
        text = check_text(value, "value", MAX_PERSONA_VALUE_CHARS)
        if id is not None:
            check_lookup_id(id)
        edit = PersonaEdit(
            id=id,
            speaker=None if speaker is None else check_text(speaker, "speaker", MAX_SPEAKER_CHARS),
            section=section,
            key=None if key is None else check_text(key, "key", MAX_PERSONA_KEY_CHARS),
            value=text,
            pinned=_flag(pinned),
        )
        return self.store.edit_persona(user_id, edit, self.clock.now())

    def pin_persona_entry(self, id: str, user_id: str, pinned: bool = True) -> PersonaEntry:
        """Pin (or with ``pinned=False`` unpin) a persona entry: a pinned entry keeps the
        model's text, but re-derivation never overwrites, evicts or removes it. Deleting a turn
        it was stated in still erases it (edit it by hand to keep it past that).

        Raises:
            NotFoundError: the user has no such entry.
        """
        check_user_id(user_id)
        edit = PersonaEdit(id=check_lookup_id(id), pinned=_flag(pinned))
        return self.store.edit_persona(user_id, edit, self.clock.now())

    def delete_persona_entry(self, id: str, user_id: str) -> int:
        """Erase a persona entry by the deletion policy: its text is gone from the store (and
        its history, which keeps a tombstone) when this returns; returns 1.

        A later extraction may state the same fact again from new turns: pin a corrected entry
        instead, or delete the turns it came from.

        Raises:
            NotFoundError: the user has no such entry.
        """
        check_user_id(user_id)
        return self.store.delete_persona_entry(user_id, check_lookup_id(id), self.clock.now())

    def _persona_entry(self, id: str, user_id: str) -> PersonaEntry:
        found = next((e for e in self.store.persona_entries(user_id) if e.id == id), None)
        if found is None:
            raise NotFoundError(f"no memory {id!r} for this user")
        return found

    # --- extraction instructions ------------------------------------------------------------
    def instructions(self, user_id: str) -> str:
        """The user's own extraction instructions (``""``: none); the deployment's are
        ``config.write.instructions``."""
        return self.store.instructions(check_user_id(user_id))

    def set_instructions(self, user_id: str, text: str) -> str:
        """Tell extraction what to keep for this user, e.g. "remember dietary needs and travel
        plans; ignore small talk" (``""`` removes them). Every later extraction call (``add``,
        ``reindex``, background jobs) shows them in a fenced section, after the deployment's
        (``config.write.instructions``), which win where the two disagree. They choose what is
        kept, never the reply's form; what was derived before stays as it is.

        Returns the instructions as stored (stripped).

        Raises:
            InputError: over 2,000 characters, a control character, or an ``<instructions>``
                tag.
        """
        check_user_id(user_id)
        stored = check_instructions(text)
        self.store.set_instructions(user_id, stored, self.clock.now())
        return stored

    # --- injection flags (issue 20) ---------------------------------------------------------
    def flagged(self, user_id: str, *, include_cleared: bool = False) -> builtins.list[RiskFlag]:
        """The user's memories flagged as injected instructions: each one's current entry."""
        check_user_id(user_id)
        flags = self.store.risk_flags(user_id).values()
        return [flag for flag in flags if include_cleared or flag.flagged]

    def review_flag(self, id: str, user_id: str, verdict: str, note: str = "") -> RiskFlag:
        """Confirm or clear a memory's flag by hand; the earlier entries stay in its history.

        Args:
            verdict: ``confirm`` (keep it out of answers; also flags an unflagged memory) or
                ``clear`` (a false flag: treat the memory as ordinary evidence).
        """
        check_user_id(user_id)
        status = REVIEW_VERDICTS.get(verdict)
        if status is None:
            raise InputError(f"verdict must be one of {list(REVIEW_VERDICTS)}")
        current = self.store.risk_flags(user_id, [id]).get(id)
        reasons = current.reasons if current else (RiskReason("operator", 0, 0),)
        flag = RiskFlag(id, status, reasons, self.clock.now(), source="operator", note=note)
        return self.store.review_risk(user_id, flag)

    def scan_flags(self, user_id: str) -> builtins.list[RiskFlag]:
        """Assess every memory of the user that has no flag entry yet, store and return the new
        flags: for memories stored before flags existed (an upgraded store). Reviews stand."""
        check_user_id(user_id)
        records = self.store.list(user_id, include_superseded=True)
        stored = self.store.risk_flags(user_id)
        turns = [r for r in records if isinstance(r, Turn)]
        # Plain scenes (grouped without a model) are never evidence, so they are not flagged.
        derived = [
            r
            for r in records
            if isinstance(r, Item) or (isinstance(r, Scene) and not is_plain_scene(r))
        ]
        now = self.clock.now()
        found = turn_flags(turns, now) + derived_flags(
            derived, flagged_turn_ids(turns, stored), now
        )
        new = tuple(flag for flag in found if flag.memory_id not in stored)
        if new:
            self.store.write(WriteBatch(user_id=user_id, at=now, risks=new))
        return builtins.list(new)

    def flag_history(self, id: str, user_id: str) -> builtins.list[RiskFlag]:
        """Every flag entry of a memory, oldest first (empty if it was never flagged)."""
        check_user_id(user_id)
        if self.store.get(user_id, id) is None:
            raise NotFoundError(f"no memory {id!r} for this user")
        return self.store.risk_history(user_id, id)

    # --- export / import ---------------------------------------------------------------------
    def export(self, user_id: str) -> Iterator[dict[str, Any]]:
        """Every stored row of ``user_id`` as JSON-ready dicts (see ``tmem export``), read in
        one snapshot; :meth:`export_page` reads a big user a page at a time."""
        return self.store.export(check_user_id(user_id))

    def export_page(
        self, user_id: str, *, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None
    ) -> Page[dict[str, Any]]:
        """One page of :meth:`export`'s rows; the pages of one walk, concatenated, are an
        export :meth:`import_records` reads.

        The first page starts with the header row; then turns, scenes, items, triggers,
        vectors, personas and history, each type by a key no write changes (turns by sequence,
        scenes and items in creation order). Each page is one index range scan per type it
        touches, so the last page of a big user costs what the first does. The pages are not
        one snapshot: a row is exported once if it was stored before the walk and still
        exists when its page is read, as :meth:`list_page` promises for memories.

        Raises:
            InputError: as for :meth:`list_page`.
        """
        check_user_id(user_id)
        check_page_limit(limit)
        walk = keyset.export_walk(user_id)
        chunk = self.store.export_page(user_id, position_of(walk, cursor), limit)
        return Page(chunk.items, cursor_for(walk, chunk.after))

    def import_records(self, records: Iterable[dict[str, Any]], user_id: str) -> int:
        """Load records written by :meth:`export` into ``user_id``; returns rows written.

        Imported memories are assessed like written ones (an export carries no flags).
        """
        written = self.store.import_records(check_user_id(user_id), list(records))
        self.scan_flags(user_id)
        return written

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _check_kind(kind: object) -> None:
    if kind is not None and kind not in KINDS:
        raise InputError(f"kind must be one of {list(KINDS)}")


def _flag(value: object) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InputError("pinned must be true, false or None")
    return value


def _vector_texts(record: Record, content: str) -> builtins.list[tuple[str, str, str]]:
    """The vectors to recompute when a memory's text becomes ``content``."""
    if isinstance(record, Turn):
        return [(record.id, TURN.name, f"{record.speaker}: {content}")]
    if isinstance(record, Scene):
        updated = Scene(**{**_fields(record), "narrative": content})
        return [(record.id, SCENE.name, scene_text(updated))]
    updated_item = Item(**{**_fields(record), "content": content})
    return [(record.id, ITEM.name, item_text(updated_item))]


def _fields(record: Scene | Item) -> dict[str, Any]:

    return {f.name: getattr(record, f.name) for f in fields(record) if f.init}
