"""Fuzzy deduplication of Entity/Bridge triggers (as in T-Mem).

Two stages. :func:`group_drafts` folds the model's per-item proposals into groups keyed by their
normalised concept; :func:`merge_triggers` folds finished :class:`~tmem.models.Trigger` records of
one family into each other, which is how a batch joins the user's existing triggers. Both keep
the first member's identity ("first concept wins"), union item edges with the maximum confidence
and compare against each group's first text only, so running them twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from rapidfuzz import fuzz, process

from tmem.models import Provenance, Trigger
from tmem.triggers.normalize import concept_norm

Edges = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class TriggerDraft:
    """One Entity/Bridge proposal from the extraction model for one item."""

    concept: str
    bridge: str
    item_id: str
    confidence: float


@dataclass(frozen=True)
class TriggerGroup:
    """Drafts whose concepts matched: one Entity text, one Bridge text, many item edges."""

    concept: str
    bridge: str
    edges: Edges


def union_edges(*edge_sets: Iterable[tuple[str, float]]) -> Edges:
    """All edges, one per target with its maximum confidence, sorted by target id."""
    best: dict[str, float] = {}
    for edges in edge_sets:
        for target, confidence in edges:
            best[target] = max(confidence, best.get(target, confidence))
    return tuple(sorted(best.items()))


def _find(key: str, exact: dict[str, int], keys: list[str], ratio: float) -> int | None:
    """Index of the group whose key matches ``key`` exactly or at ``ratio`` or more."""
    if key in exact:
        return exact[key]
    match = process.extractOne(key, keys, scorer=fuzz.ratio, score_cutoff=ratio * 100)
    return None if match is None else int(match[2])


def group_drafts(drafts: Sequence[TriggerDraft], ratio: float) -> list[TriggerGroup]:
    """Merge drafts in order; the longer bridge is kept, the first concept wins.

    Drafts whose concept normalises to nothing are dropped.
    """
    keys: list[str] = []
    exact: dict[str, int] = {}
    groups: list[TriggerGroup] = []
    for draft in drafts:
        key = concept_norm(draft.concept)
        if not key:
            continue
        edge = ((draft.item_id, min(max(draft.confidence, 0.0), 1.0)),)
        index = _find(key, exact, keys, ratio)
        if index is None:
            exact[key] = len(groups)
            keys.append(key)
            groups.append(TriggerGroup(draft.concept.strip(), draft.bridge.strip(), edge))
            continue
        group = groups[index]
        bridge = draft.bridge.strip()
        groups[index] = TriggerGroup(
            group.concept,
            bridge if len(bridge) > len(group.bridge) else group.bridge,
            union_edges(group.edges, edge),
        )
    return groups


def keep_confident(groups: Sequence[TriggerGroup], min_confidence: float) -> list[TriggerGroup]:
    """Drop edges below ``min_confidence``, then groups left without edges."""
    kept = []
    for group in groups:
        edges = tuple(e for e in group.edges if e[1] >= min_confidence)
        if edges:
            kept.append(replace(group, edges=edges))
    return kept


def group_triggers(
    groups: Sequence[TriggerGroup],
    *,
    user_id: str,
    new_id: Callable[[str], str],
    provenance: Provenance,
) -> list[Trigger]:
    """One Entity trigger (the concept) and, when present, one Bridge trigger per group."""
    triggers = []
    for group in groups:
        triggers.append(
            Trigger(new_id("trg"), user_id, "entity", group.concept, group.edges, "", provenance)
        )
        if group.bridge:
            triggers.append(
                Trigger(new_id("trg"), user_id, "bridge", group.bridge, group.edges, "", provenance)
            )
    return triggers


def merge_triggers(triggers: Sequence[Trigger], ratio: float) -> list[Trigger]:
    """Fold triggers of the same family and facet whose texts match; order is kept.

    Put existing triggers first so they absorb new ones and keep their ids. Targets of every
    result are sorted by id with the maximum confidence per target.
    """
    keys: dict[tuple[str, str], list[str]] = {}
    exact: dict[tuple[str, str], dict[str, int]] = {}
    slots: dict[tuple[str, str], list[int]] = {}
    merged: list[Trigger] = []
    for trigger in triggers:
        lane = (trigger.family, trigger.facet)
        key = concept_norm(trigger.text)
        lane_keys = keys.setdefault(lane, [])
        lane_exact = exact.setdefault(lane, {})
        lane_slots = slots.setdefault(lane, [])
        index = _find(key, lane_exact, lane_keys, ratio)
        if index is None:
            lane_exact.setdefault(key, len(lane_keys))
            lane_keys.append(key)
            lane_slots.append(len(merged))
            merged.append(replace(trigger, targets=union_edges(trigger.targets)))
            continue
        slot = lane_slots[index]
        merged[slot] = replace(
            merged[slot], targets=union_edges(merged[slot].targets, trigger.targets)
        )
    return merged
