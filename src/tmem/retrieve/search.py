"""The read path: gather candidates per channel, fuse them, return typed hits.

Every channel generates its own candidates and the fusion decides; no channel filters another
(a memory found only by keywords, or only by a trigger, still surfaces).

The channels, the spaces they search and the kinds they rank are declared once in
:mod:`tmem.spaces` (:data:`~tmem.spaces.CHANNELS`).

The turns are always searched as in LLM-free mode: ``dense`` and ``bm25`` over each turn and
``context``, a cosine over the turn together with its neighbours in the scene LLM-free grouping
gave it (every turn keeps that vector for life). When the user has derived memories, the scene
and item rankings are merged into that turn ranking by :func:`tmem.retrieve.merge.merge_floor`,
which never ranks a turn's first covering hit below the turn's own rank: whatever a model wrote
(nothing, scenes only, items only, everything), full mode finds each of the top turns at least
as early as LLM-free mode does, and shows no evidence twice. Plain scenes (grouped without a
model) are never evidence.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from tmem.config import RetrievalConfig
from tmem.embed.base import Embedder
from tmem.errors import TmemError
from tmem.models import Hit, Item, Kind, Record, evidence_text, is_plain_scene
from tmem.rerank.base import Reranker
from tmem.retrieve.fusion import fuse
from tmem.retrieve.merge import merge_floor
from tmem.spaces import DIALOGUE, ITEM, RERANK, TRIGGER_CHANNELS, Channel, channels_of
from tmem.store.base import Store, Vector

_log = logging.getLogger("tmem.retrieve")


@dataclass
class _Channels:
    """Ranked ids per channel, plus the trigger labels that reached each id."""

    rankings: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    lexical: list[float] | None = None
    """BM25 scores of the turn search's lexical channel, read by the adaptive fusion."""

    def add(self, name: str, ids: Sequence[str]) -> None:
        if ids:
            self.rankings[name] = list(ids)


@dataclass(frozen=True)
class Searcher:
    store: Store
    embedder: Embedder
    config: RetrievalConfig
    reranker: Reranker | None = None
    rerank_pool: tuple[int, int] = (24, 40)
    """Fused (scenes, items) candidates handed to the reranker; turns use the item figure."""

    def search(self, query: str, user_id: str, limit: int = 10) -> list[Hit]:
        if limit < 1 or not query.strip():
            return []
        vector = self.embedder.embed([query])[0]
        scenes, items = self._kind_limits(limit)
        turns = self._turns(query, user_id, vector, limit)
        derived = self._derived(query, user_id, vector, scenes, items)
        return self._with_risk(user_id, merge_floor(turns, derived, limit, k=self.config.rrf_k))

    def _with_risk(self, user_id: str, hits: list[Hit]) -> list[Hit]:
        """Each hit with its memory's current injection flag (one indexed lookup)."""
        flags = self.store.risk_flags(user_id, [h.id for h in hits]) if hits else {}
        return [replace(h, risk=flags[h.id].assessment()) if h.id in flags else h for h in hits]

    def _kind_limits(self, limit: int) -> tuple[int, int]:
        scenes, items = self.config.scene_limit, self.config.item_limit
        if limit > scenes + items:
            scenes = math.ceil(limit * scenes / (scenes + items))
            items = limit - scenes
        return scenes, items

    # --- channels over turns (LLM-free) ------------------------------------------------------
    def _turns(self, query: str, user_id: str, vector: Vector, limit: int) -> list[Hit]:
        n = max(self.config.candidates, limit)
        channels = self._channels("turn", query, user_id, vector, n)
        return self._ranked(query, user_id, channels, limit, self.rerank_pool[1])

    # --- channels over scenes and items -------------------------------------------------------
    def _derived(
        self, query: str, user_id: str, vector: Vector, scenes: int, items: int
    ) -> list[Hit]:
        """Scene and item hits merged by fused score; none until a model derived something
        (every segmented scene has a ``dialogue`` vector, every item an ``item`` vector)."""
        markers = (DIALOGUE.name, ITEM.name)
        if not any(self.store.search_vectors(user_id, s, vector, 1) for s in markers):
            return []
        scene_pool, item_pool = self.rerank_pool
        n = self.config.candidates
        hits = [
            *self._ranked(query, user_id, self._channels("scene", query, user_id, vector, n),
                          scenes, scene_pool),
            *self._ranked(query, user_id, self._channels("item", query, user_id, vector, n),
                          items, item_pool),
        ]  # fmt: skip
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits

    def _channels(self, kind: Kind, query: str, user_id: str, vector: Vector, n: int) -> _Channels:
        """Every configured channel over ``kind`` (:func:`tmem.spaces.channels_of`), in order."""
        channels = _Channels()
        for channel in channels_of(kind):
            if channel.space is None:
                if self.config.lexical:
                    scored = self.store.search_text(user_id, kind, query, n)
                    channels.add(channel.name, [s.id for s in scored])
                    if kind == "turn":
                        channels.lexical = [s.score for s in scored]
            elif channel.family is not None:
                if channel.family in self.config.families:
                    self._trigger_channel(channels, channel, user_id, vector)
            elif self.config.dense:
                channels.add(channel.name, self._vector_ids(user_id, channel.space.name, vector, n))
        return channels

    def _trigger_channel(
        self, channels: _Channels, channel: Channel, user_id: str, vector: Vector
    ) -> None:
        """Rank memories by their best gated trigger: cosine times edge confidence."""
        assert channel.space is not None
        # Item triggers (Entity, Bridge) and scene triggers (Scene, Horizon) have their own top.
        top = self.config.trigger_top if channel.kind == "item" else self.config.scene_trigger_top
        scored = [
            s
            for s in self.store.search_vectors(user_id, channel.space.name, vector, top)
            if s.score >= self.config.trigger_gate
        ]
        if not scored:
            return
        triggers = {t.id: t for t in self.store.triggers_for(user_id, [s.id for s in scored])}
        best: dict[str, float] = {}
        for candidate in scored:
            trigger = triggers.get(candidate.id)
            if trigger is None:
                continue
            for memory_id, confidence in trigger.targets:
                value = candidate.score * confidence
                if value > best.get(memory_id, -1.0):
                    best[memory_id] = value
                channels.labels[memory_id].add(trigger.label)
        channels.add(channel.name, sorted(best, key=lambda m: (-best[m], m)))

    # --- helpers ---------------------------------------------------------------------------
    def _vector_ids(self, user_id: str, space: str, vector: Vector, n: int) -> list[str]:
        # A cosine of zero or less says nothing about relevance; keep it out of the fusion.
        return [s.id for s in self.store.search_vectors(user_id, space, vector, n) if s.score > 0]

    def _ranked(
        self, query: str, user_id: str, channels: _Channels, limit: int, pool: int
    ) -> list[Hit]:
        """Fused hits, reordered by the cross-encoder when one is configured."""
        if self.reranker is None:
            return self._fuse(user_id, channels, limit)
        candidates = self._fuse(user_id, channels, max(limit, pool))
        try:
            scores = self.reranker.rerank(query, [h.text for h in candidates])
        except TmemError as error:
            # Reranking refines the order; without it the fused order stands.
            _log.warning("reranker failed, keeping the fused order: %s", error)
            return candidates[:limit]
        reranked = [
            replace(hit, score=score, reached_by=(*hit.reached_by, RERANK))
            for hit, score in zip(candidates, scores, strict=True)
        ]
        reranked.sort(key=lambda h: (-h.score, h.id))
        return reranked[:limit]

    def _fuse(self, user_id: str, channels: _Channels, limit: int) -> list[Hit]:
        if not channels.rankings or limit < 1:
            return []
        fused = fuse(channels.rankings, channels.lexical, self.config)
        records = self.store.get_many(user_id, [f.id for f in fused])
        hits: list[Hit] = []
        for f in fused:
            record = records.get(f.id)
            # A superseded item can still be ranked by a trigger pointing at it; history keeps
            # it, recall never shows it.
            if record is None or is_plain_scene(record) or is_superseded(record):
                continue
            if len(hits) == limit:
                break
            reached = _reached_by(f.channels, channels.labels.get(f.id, set()))
            hits.append(to_hit(record, f.score, reached))
        return hits


def is_superseded(record: Record) -> bool:
    """An item replaced by a newer, contradicting one."""
    return isinstance(record, Item) and record.status == "superseded"


def _reached_by(names: Sequence[str], labels: set[str]) -> tuple[str, ...]:
    """Channel names, with a trigger family replaced by its labels (``horizon:GOAL_ARC``)."""
    out: list[str] = []
    for name in names:
        if name in TRIGGER_CHANNELS:
            matching = sorted(lb for lb in labels if lb.split(":")[0] == name)
            out.extend(matching or [name])
        else:
            out.append(name)
    return tuple(dict.fromkeys(out))


def to_hit(record: Record, score: float, reached_by: tuple[str, ...]) -> Hit:
    return Hit(
        id=record.id,
        kind=record.kind,
        text=evidence_text(record),
        score=score,
        timestamp=record.timestamp.isoformat(),
        source_turns=record.source_turns,
        reached_by=reached_by,
    )
