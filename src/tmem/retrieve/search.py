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

Every hit says how it was found. ``reached_by`` names the channels; ``explain`` gives each one's
rank, raw score (a cosine, a BM25 score, or a trigger's cosine times its edge confidence) and the
term it added to the fused score, and for a trigger channel the triggers that matched. All of it
is what gathering the channels fetched anyway (the trigger texts come with the edges), so it is
computed for every search (the cost is measured in ``docs/benchmarks.md``, *Explanations*).
``min_similarity`` drops, before anything is ranked, the memories no embedding channel scored at
least that cosine.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from tmem.config import RetrievalConfig
from tmem.embed.base import Embedder
from tmem.errors import TmemError
from tmem.models import (
    ChannelEvidence,
    Hit,
    Item,
    Kind,
    Record,
    TriggerMatch,
    evidence_text,
    is_plain_scene,
)
from tmem.rerank.base import Reranker
from tmem.retrieve.fusion import Fused, channel_weights, weighted_rrf
from tmem.retrieve.merge import merge_floor
from tmem.spaces import BM25, DIALOGUE, ITEM, RERANK, TRIGGER_CHANNELS, Channel, channels_of
from tmem.store.base import Scored, Store, Vector

_log = logging.getLogger("tmem.retrieve")


@dataclass(frozen=True)
class _Query:
    """One search: what was asked, for whom, and the similarity cut."""

    text: str
    user_id: str
    vector: Vector
    min_similarity: float | None = None


@dataclass
class _Channels:
    """Ranked ids per channel, each id's rank and raw score there, and the triggers that
    matched it: what :meth:`explain` reads, kept as the channels are gathered."""

    rankings: dict[str, list[str]] = field(default_factory=dict)
    found: dict[str, dict[str, tuple[int, float]]] = field(default_factory=dict)
    """Channel -> id -> (rank from 1, raw score); a repeated id counts at its best rank."""
    matches: dict[str, dict[str, list[TriggerMatch]]] = field(default_factory=dict)
    """Trigger channel -> memory id -> the gated triggers that point at it, best first."""
    lexical: list[float] | None = None
    """BM25 scores of the turn search's lexical channel, read by the adaptive fusion."""

    def add(self, name: str, scored: Sequence[Scored]) -> None:
        if scored:
            self.rankings[name] = [s.id for s in scored]
            found: dict[str, tuple[int, float]] = {}
            for rank, s in enumerate(scored, start=1):
                found.setdefault(s.id, (rank, s.score))
            self.found[name] = found

    def explain(
        self, fused: Fused, weights: Mapping[str, float], k: int
    ) -> tuple[ChannelEvidence, ...]:
        """Each channel that ranked ``fused``: rank, raw score, RRF term, matching triggers;
        best rank first."""
        evidence = []
        for channel in fused.channels:
            rank, score = self.found[channel][fused.id]
            triggers = tuple(self.matches.get(channel, {}).get(fused.id, ()))
            term = weights.get(channel, 1.0) / (k + rank)
            evidence.append(ChannelEvidence(channel, rank, score, term, triggers))
        evidence.sort(key=lambda e: (e.rank, e.channel))
        return tuple(evidence)

    def similarity(self, fused: Fused) -> float | None:
        """The best cosine an embedding channel gave ``fused`` (a trigger channel: its best
        trigger's cosine); None when only BM25 ranked it."""
        cosines = [
            max(m.cosine for m in self.matches[name][fused.id])
            if name in TRIGGER_CHANNELS
            else self.found[name][fused.id][1]
            for name in fused.channels
            if name != BM25
        ]
        return max(cosines, default=None)

    def passes(self, fused: Fused, min_similarity: float) -> bool:
        similarity = self.similarity(fused)
        return similarity is not None and similarity >= min_similarity

    def reached_by(self, fused: Fused) -> tuple[str, ...]:
        """Channel names, a trigger family replaced by its labels (``horizon:GOAL_ARC``)."""
        out: list[str] = []
        for name in fused.channels:
            found = self.matches.get(name, {}).get(fused.id, ())
            out.extend(sorted({m.label for m in found}) or [name])
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class Searcher:
    store: Store
    embedder: Embedder
    config: RetrievalConfig
    reranker: Reranker | None = None
    rerank_pool: tuple[int, int] = (24, 40)
    """Fused (scenes, items) candidates handed to the reranker; turns use the item figure."""

    def search(
        self, query: str, user_id: str, limit: int = 10, min_similarity: float | None = None
    ) -> list[Hit]:
        """The merged hits, each with its explanation.

        Args:
            min_similarity: keep only memories some embedding channel scored at least this
                cosine (a trigger channel counts its trigger's cosine); BM25 alone never
                qualifies. None keeps every candidate.
        """
        if limit < 1 or not query.strip():
            return []
        q = _Query(query, user_id, self.embedder.embed([query])[0], min_similarity)
        scenes, items = self._kind_limits(limit)
        turns = self._turns(q, limit)
        derived = self._derived(q, scenes, items)
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
    def _turns(self, q: _Query, limit: int) -> list[Hit]:
        n = max(self.config.candidates, limit)
        return self._ranked(q, self._channels("turn", q, n), limit, self.rerank_pool[1])

    # --- channels over scenes and items -------------------------------------------------------
    def _derived(self, q: _Query, scenes: int, items: int) -> list[Hit]:
        """Scene and item hits merged by fused score; none until a model derived something
        (every segmented scene has a ``dialogue`` vector, every item an ``item`` vector)."""
        markers = (DIALOGUE.name, ITEM.name)
        if not any(self.store.search_vectors(q.user_id, s, q.vector, 1) for s in markers):
            return []
        scene_pool, item_pool = self.rerank_pool
        n = self.config.candidates
        hits = [
            *self._ranked(q, self._channels("scene", q, n), scenes, scene_pool),
            *self._ranked(q, self._channels("item", q, n), items, item_pool),
        ]
        hits.sort(key=lambda h: (-h.score, h.id))
        return hits

    def _channels(self, kind: Kind, q: _Query, n: int) -> _Channels:
        """Every configured channel over ``kind`` (:func:`tmem.spaces.channels_of`), in order."""
        channels = _Channels()
        for channel in channels_of(kind):
            if channel.space is None:
                if self.config.lexical:
                    scored = self.store.search_text(q.user_id, kind, q.text, n)
                    channels.add(channel.name, scored)
                    if kind == "turn":
                        channels.lexical = [s.score for s in scored]
            elif channel.family is not None:
                if channel.family in self.config.families:
                    self._trigger_channel(channels, channel, q)
            elif self.config.dense:
                channels.add(channel.name, self._vectors(q, channel.space.name, n))
        return channels

    def _trigger_channel(self, channels: _Channels, channel: Channel, q: _Query) -> None:
        """Rank memories by their best gated trigger: cosine times edge confidence."""
        assert channel.space is not None
        # Item triggers (Entity, Bridge) and scene triggers (Scene, Horizon) have their own top.
        top = self.config.trigger_top if channel.kind == "item" else self.config.scene_trigger_top
        scored = [
            s
            for s in self.store.search_vectors(q.user_id, channel.space.name, q.vector, top)
            if s.score >= self.config.trigger_gate
        ]
        if not scored:
            return
        # The texts come with the edges this fetch needs anyway: explaining costs no round trip.
        triggers = {t.id: t for t in self.store.triggers_for(q.user_id, [s.id for s in scored])}
        matches: dict[str, list[TriggerMatch]] = defaultdict(list)
        for candidate in scored:
            trigger = triggers.get(candidate.id)
            if trigger is None:
                continue
            for memory_id, confidence in trigger.targets:
                matches[memory_id].append(
                    TriggerMatch(
                        trigger.id, trigger.label, trigger.text, candidate.score, confidence
                    )
                )
        for found in matches.values():
            found.sort(key=lambda m: (-m.cosine * m.confidence, -m.cosine, m.id))
        best = {m: found[0].cosine * found[0].confidence for m, found in matches.items()}
        channels.matches[channel.name] = dict(matches)
        ranked = sorted(best, key=lambda m: (-best[m], m))
        channels.add(channel.name, [Scored(m, best[m]) for m in ranked])

    # --- helpers ---------------------------------------------------------------------------
    def _vectors(self, q: _Query, space: str, n: int) -> list[Scored]:
        # A cosine of zero or less says nothing about relevance; keep it out of the fusion.
        return [s for s in self.store.search_vectors(q.user_id, space, q.vector, n) if s.score > 0]

    def _ranked(self, q: _Query, channels: _Channels, limit: int, pool: int) -> list[Hit]:
        """Fused hits, reordered by the cross-encoder when one is configured."""
        if self.reranker is None:
            return self._fuse(q, channels, limit)
        candidates = self._fuse(q, channels, max(limit, pool))
        try:
            scores = self.reranker.rerank(q.text, [h.text for h in candidates])
        except TmemError as error:
            # Reranking refines the order; without it the fused order stands.
            _log.warning("reranker failed, keeping the fused order: %s", error)
            return candidates[:limit]
        reranked = [
            replace(hit, score=score, reached_by=(*hit.reached_by, RERANK))
            for hit, score in zip(candidates, scores, strict=True)
        ]
        reranked.sort(key=lambda h: (-h.score, h.id))
        return [
            replace(hit, explain=(*hit.explain, ChannelEvidence(RERANK, rank, hit.score, 0.0)))
            for rank, hit in enumerate(reranked[:limit], start=1)
        ]

    def _fuse(self, q: _Query, channels: _Channels, limit: int) -> list[Hit]:
        if not channels.rankings or limit < 1:
            return []
        weights = channel_weights(channels.lexical, self.config)
        fused = weighted_rrf(channels.rankings, weights, self.config.rrf_k)
        if q.min_similarity is not None:
            fused = [f for f in fused if channels.passes(f, q.min_similarity)]
        records = self.store.get_many(q.user_id, [f.id for f in fused])
        hits: list[Hit] = []
        for f in fused:
            record = records.get(f.id)
            # A superseded item can still be ranked by a trigger pointing at it; history keeps
            # it, recall never shows it.
            if record is None or is_plain_scene(record) or is_superseded(record):
                continue
            if len(hits) == limit:
                break
            explain = channels.explain(f, weights, self.config.rrf_k)
            hits.append(to_hit(record, f.score, channels.reached_by(f), explain))
        return hits


def is_superseded(record: Record) -> bool:
    """An item replaced by a newer, contradicting one."""
    return isinstance(record, Item) and record.status == "superseded"


def to_hit(
    record: Record,
    score: float,
    reached_by: tuple[str, ...],
    explain: tuple[ChannelEvidence, ...] = (),
) -> Hit:
    return Hit(
        id=record.id,
        kind=record.kind,
        text=evidence_text(record),
        score=score,
        timestamp=record.timestamp.isoformat(),
        source_turns=record.source_turns,
        reached_by=reached_by,
        explain=explain,
    )
