"""The write path: validate, store the raw turns, derive, embed, store the derived memories.

Raw turns are committed before any LLM call, so a failing model, a crash or a bad reply never
loses what the caller handed over: the turns stay marked *pending* and ``reindex`` retries them.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.errors import LLMUnavailableError, WriteConflictError
from tmem.ingest.llm_free import context_text, group_turns
from tmem.ingest.normalize import to_messages
from tmem.ingest.replan import derivation_basis, replanned, whole_plain_scenes
from tmem.ingest.vectors import derived_vectors, embed_rows, merge_into_existing
from tmem.llm.base import LLM
from tmem.models import (
    FAMILIES,
    Failure,
    IngestReport,
    Item,
    Message,
    Mode,
    Scene,
    Trigger,
    Turn,
    Usage,
    is_plain_scene,
)
from tmem.safety.flags import derived_flags, flagged_turn_ids, turn_flags
from tmem.spaces import CONTEXT, ITEM, TURN
from tmem.store.base import Basis, Store, VectorRow, WriteBatch
from tmem.validate import check_user_id

Progress = Callable[[int, int], None]
"""Called with (steps done, steps planned) while a long ingest runs. A step is one embedded text
in LLM-free mode (and with ``derive=False``), one LLM call in full mode; the plan can grow once
segmentation has fixed the extraction calls."""


Memo = dict[tuple[str, str, str], VectorRow]
"""Vectors already embedded in this call, by ``(owner, space, text)``."""

DERIVE_ATTEMPTS = 3
"""Plans of one derivation before its turns are left pending (each plan calls the LLM)."""


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


@dataclass
class Ingestor:
    store: Store
    embedder: Embedder
    llm: LLM | None
    config: Config
    now: Callable[[], datetime]
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    @property
    def mode(self) -> Mode:
        return "llm-free" if self.llm is None else "full"

    def _lock(self, user_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(user_id, threading.Lock())

    def add(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        user_id: str,
        session_id: str | None = None,
        progress: Progress | None = None,
        derive: bool = True,
    ) -> IngestReport:
        check_user_id(user_id)
        parsed = to_messages(messages)
        session = session_id or new_id("ses")
        # Fixed before planning, so a re-planned write (see ingest/replan.py) reuses the ids
        # and the vectors already embedded for them.
        ids = [m.id or new_id("turn") for m in parsed]
        memo: Memo = {}
        with self._lock(user_id):
            if self.llm is None or not derive:
                return replanned(
                    lambda: self._add_llm_free(parsed, ids, user_id, session, progress, memo)
                )
            turns = replanned(lambda: self._store_pending(parsed, ids, user_id, session, memo))
            if not turns:
                return self._report(user_id, session, [])
            return self._derive_and_write(self.llm, turns, user_id, session, progress)

    def reindex(self, user_id: str, progress: Progress | None = None) -> IngestReport:
        """Derive scenes, items and triggers for turns that have none yet (needs an LLM).

        Covers turns whose derivation failed and turns ingested in LLM-free mode.
        """
        check_user_id(user_id)
        if self.llm is None:
            raise LLMUnavailableError(
                "reindex needs an LLM: set TMEM_LLM_BASE_URL and TMEM_LLM_MODEL"
            )
        with self._lock(user_id):
            turns, held = self._underived(user_id)
            if not turns:
                return self._report(user_id, "", [])
            session = turns[0].session_id
            return self._derive_and_write(self.llm, turns, user_id, session, progress, held)

    # --- LLM-free ------------------------------------------------------------------------------
    def _add_llm_free(
        self,
        messages: list[Message],
        ids: list[str],
        user_id: str,
        session: str,
        progress: Progress | None,
        memo: Memo,
    ) -> IngestReport:
        """Group turns into plain scenes without the LLM (LLM-free mode, or derivation deferred
        to ``reindex``); each turn gets a ``context`` vector, which search uses while it waits."""
        turns = self._new_turns(messages, ids, user_id, session)
        if not turns:
            return self._report(user_id, session, [])
        open_scene = self.store.last_scene(user_id)
        open_turns: list[Turn] = []
        if open_scene is not None and is_plain_scene(open_scene):
            open_turns = self.store.turns(user_id, open_scene.source_turns)
        else:
            open_scene = None
        grouping = group_turns(
            turns,
            open_scene=open_scene,
            open_scene_turns=open_turns,
            config=self.config.write,
            new_id=new_id,
        )
        fresh = {t.id for t in turns}
        texts: list[tuple[str, str, str]] = [(t.id, TURN.name, t.text) for t in turns]
        for members in grouping.members:
            for i, turn in enumerate(members):
                # The open scene's last turn gains a neighbour, so its context changes too.
                if turn.id in fresh or i == len(open_turns) - 1:
                    texts.append((turn.id, CONTEXT.name, context_text(members, i)))
        vectors = self._embed(texts, progress, memo)
        links = tuple(
            (t.id, s.id)
            for s, members in zip(grouping.scenes, grouping.members, strict=True)
            for t in members
        )
        extended = ((open_scene.id, open_scene.source_turns),) if open_scene else ()
        self.store.write(
            WriteBatch(
                user_id=user_id,
                at=self.now(),
                turns=tuple(turns),
                scenes=grouping.scenes,
                vectors=tuple(vectors),
                scene_of_turn=links,
                basis=Basis(next_seq=turns[0].seq, scenes=extended),
                risks=turn_flags(turns, self.now()),
            )
        )
        return self._report(user_id, session, turns, scenes=grouping.scenes)

    # --- full mode -----------------------------------------------------------------------------
    def _store_pending(
        self, messages: list[Message], ids: list[str], user_id: str, session: str, memo: Memo
    ) -> list[Turn]:
        """Commit the raw turns, pending, before any LLM call: nothing depends on the LLM.

        Each turn gets the ``context`` vector LLM-free mode would give it (its neighbours in
        the scene LLM-free grouping makes of this batch) and keeps it for life, so search
        ranks the turns as LLM-free mode does whatever the model writes.
        """
        turns = self._new_turns(messages, ids, user_id, session)
        if turns:
            grouping = group_turns(
                turns,
                open_scene=None,
                open_scene_turns=(),
                config=self.config.write,
                new_id=new_id,
            )
            texts = [(t.id, TURN.name, t.text) for t in turns]
            texts += [
                (turn.id, CONTEXT.name, context_text(members, i))
                for members in grouping.members
                for i, turn in enumerate(members)
            ]
            turn_vectors = self._embed(texts, None, memo)
            self.store.write(
                WriteBatch(
                    user_id=user_id,
                    at=self.now(),
                    turns=tuple(turns),
                    vectors=tuple(turn_vectors),
                    pending_turns=tuple(t.id for t in turns),
                    basis=Basis(next_seq=turns[0].seq),
                    risks=turn_flags(turns, self.now()),
                )
            )
        return turns

    def _derive_and_write(
        self,
        llm: LLM,
        turns: list[Turn],
        user_id: str,
        session: str,
        progress: Progress | None,
        held: Sequence[Scene] = (),
    ) -> IngestReport:
        """Derive and write ``turns`` (held by ``held`` scenes, or by none), re-planned if
        another writer changed those scenes meanwhile.

        Each plan repeats its LLM calls, so after :data:`DERIVE_ATTEMPTS` the turns are left
        as they are (pending, found as turns) with a failure saying so; ``reindex`` retries.
        """
        asked = turns
        for _ in range(DERIVE_ATTEMPTS):
            try:
                return self._derive_once(llm, turns, user_id, session, progress, held)
            except WriteConflictError:
                turns, held = self._underived(user_id, only={t.id for t in asked})
                if not turns:  # another writer derived them all
                    return self._report(user_id, session, asked)
        failure = Failure(
            stage="write",
            error=f"other writers kept changing this user's scenes ({DERIVE_ATTEMPTS} plans);"
            " the turns stay pending for `tmem reindex`",
            turn_ids=tuple(t.id for t in turns),
        )
        return self._report(user_id, session, asked, failures=(failure,))

    def _derive_once(
        self,
        llm: LLM,
        turns: list[Turn],
        user_id: str,
        session: str,
        progress: Progress | None,
        held: Sequence[Scene],
    ) -> IngestReport:
        from tmem.ingest.derive import derive

        open_scene = self.store.last_scene(user_id)
        if open_scene is not None and is_plain_scene(open_scene):
            open_scene = None
        open_turns = self.store.turns(user_id, open_scene.source_turns) if open_scene else []
        derivation = derive(
            llm,
            turns,
            user_id=user_id,
            open_scene=open_scene,
            open_scene_turns=open_turns,
            known_items=lambda text: self._related_items(user_id, text),
            config=self.config.write,
            now=self.now(),
            new_id=new_id,
            max_workers=self.config.llm.concurrency,
            retries=self.config.llm.output_retries,
            progress=progress,
            user_instructions=self.store.instructions(user_id),
        )
        triggers = self._merge_with_existing(user_id, derivation.triggers)
        failed = set(derivation.failed_turns)
        vectors = derived_vectors(
            self.embedder,
            derivation.scenes,
            derivation.items,
            triggers,
            {t.id: t for t in [*open_turns, *turns]},
            self.config.embedder.batch_size,
        )
        sources = [*open_turns, *turns]
        flagged = flagged_turn_ids(sources, self.store.risk_flags(user_id, [t.id for t in sources]))
        self.store.write(
            WriteBatch(
                user_id=user_id,
                at=self.now(),
                risks=derived_flags([*derivation.scenes, *derivation.items], flagged, self.now()),
                scenes=derivation.scenes,
                items=derivation.items,
                triggers=triggers,
                vectors=tuple(vectors),
                supersessions=derivation.supersessions,
                persona_deltas=derivation.persona_deltas,
                scene_of_turn=derivation.scene_of_turn,
                pending_turns=tuple(sorted(failed)),
                done_turns=tuple(t.id for t in turns if t.id not in failed),
                basis=derivation_basis(turns, [*held, *([open_scene] if open_scene else [])]),
            )
        )
        return self._report(
            user_id,
            session,
            turns,
            scenes=derivation.scenes,
            items=derivation.items,
            triggers=triggers,
            superseded=len(derivation.supersessions),
            usage=derivation.usage,
            failures=derivation.failures,
            rejected=(derivation.rejected_triggers, derivation.rejected_items),
        )

    def _related_items(self, user_id: str, text: str) -> list[Item]:
        vector = self.embedder.embed([text])[0]
        hits = self.store.search_vectors(user_id, ITEM.name, vector, 10)
        records = self.store.get_many(user_id, [h.id for h in hits])
        return [
            r for h in hits if isinstance(r := records.get(h.id), Item) and r.status == "active"
        ]

    def _merge_with_existing(
        self, user_id: str, triggers: Sequence[Trigger]
    ) -> tuple[Trigger, ...]:
        """Fold new Entity/Bridge triggers into near-identical stored ones."""

        return merge_into_existing(
            self.store, self.embedder, user_id, triggers, self.config.write.merge_ratio
        )

    # --- helpers -------------------------------------------------------------------------------
    def _embed(
        self, texts: list[tuple[str, str, str]], progress: Progress | None, memo: Memo
    ) -> list[VectorRow]:
        """Vectors of ``(owner, space, text)`` rows, embedding only those not in ``memo``."""
        missing = [row for row in texts if row not in memo]
        embedded = embed_rows(self.embedder, missing, self.config.embedder.batch_size, progress)
        memo.update(zip(missing, embedded, strict=True))
        return [memo[row] for row in texts]

    def _new_turns(
        self, messages: list[Message], ids: list[str], user_id: str, session: str
    ) -> list[Turn]:
        """Turns for messages not stored yet: re-adding a message with a known id is a no-op.

        Numbered from the user's next ``seq`` as read now; the write checks it is still that.
        """
        given = [m.id for m in messages if m.id is not None]
        known = {t.id for t in self.store.turns(user_id, given)} if given else set()
        seq = self.store.next_seq(user_id)
        now = self.now()
        turns = []
        for message, turn_id in zip(messages, ids, strict=True):
            if message.id is not None and message.id in known:
                continue
            turns.append(
                Turn(
                    id=turn_id,
                    user_id=user_id,
                    session_id=session,
                    seq=seq,
                    speaker=message.speaker,
                    content=message.content,
                    timestamp=message.timestamp or now,
                )
            )
            seq += 1
        return turns

    def _underived(
        self, user_id: str, only: set[str] | None = None
    ) -> tuple[list[Turn], tuple[Scene, ...]]:
        """Turns waiting for derivation (of ``only``, if given), by ``seq``, and the scenes
        holding them as read now (the basis of their derivation)."""
        pending = {t.id: t for t in self.store.pending_turns(user_id)}
        scenes = [s for s in self.store.list(user_id, "scene") if isinstance(s, Scene)]
        for scene in scenes:
            if is_plain_scene(scene):
                for turn in self.store.turns(user_id, scene.source_turns):
                    pending.setdefault(turn.id, turn)
        if only is not None:
            chosen = whole_plain_scenes(only & pending.keys(), scenes)
            pending = {turn_id: t for turn_id, t in pending.items() if turn_id in chosen}
        held = tuple(s for s in scenes if not pending.keys().isdisjoint(s.source_turns))
        return sorted(pending.values(), key=lambda t: t.seq), held

    def _report(
        self,
        user_id: str,
        session: str,
        turns: Sequence[Turn],
        *,
        scenes: Sequence[Scene] = (),
        items: Sequence[Item] = (),
        triggers: Sequence[Trigger] = (),
        superseded: int = 0,
        usage: Usage | None = None,
        failures: Sequence[Failure] = (),
        rejected: tuple[int, int] = (0, 0),
    ) -> IngestReport:
        counts = Counter(t.family for t in triggers)
        return IngestReport(
            user_id=user_id,
            session_id=session,
            mode=self.mode,
            turns=len(turns),
            scenes=len(scenes),
            items=len(items),
            triggers={f: counts.get(f, 0) for f in FAMILIES},
            superseded=superseded,
            usage=usage or Usage(),
            failures=tuple(failures),
            turn_ids=tuple(t.id for t in turns),
            rejected_triggers=rejected[0],
            rejected_items=rejected[1],
        )
