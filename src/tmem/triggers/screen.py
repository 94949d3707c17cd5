"""Reject trigger text that copies the dialogue or merely restates its fact.

Small local models often echo a turn instead of anticipating a future context. A copied
trigger duplicates what dense search over turns already finds, so it is dropped and counted;
the counts show how much of a model's trigger output survives.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from rapidfuzz import fuzz

from tmem.triggers.merge import TriggerDraft
from tmem.triggers.normalize import concept_norm, content_words


def is_copy(sentence: str, sources: Sequence[str], ratio: float) -> bool:
    """Whether ``sentence`` is a near-copy (fuzzy ratio >= ``ratio``) of any source text."""
    norm = concept_norm(sentence)
    cutoff = ratio * 100
    return any(fuzz.ratio(norm, concept_norm(source)) >= cutoff for source in sources)


def borrows(sentence: str, examples: Sequence[str], sources: Sequence[str]) -> bool:
    """Whether ``sentence`` reuses a worked example's wording rather than the dialogue's.

    A small model rewrites the example around new names ("may avoid any role that requires
    pre-dawn hours" from "Priya may turn down any role that demands pre-dawn hours"), which a
    fuzzy ratio misses. Counted here: the sentence's content words that appear in one example
    text and in none of the ``sources``. Three or more such words making up at least half of the
    sentence's content words mark a borrowed sentence (two would flag short generic phrases
    such as "Relief mixed with resolve.").
    """
    words = content_words(sentence)
    if not words:
        return False
    own = frozenset().union(*(content_words(source) for source in sources))
    foreign = words - own
    for example in examples:
        borrowed = foreign & content_words(example)
        if len(borrowed) >= 3 and 2 * len(borrowed) >= len(words):
            return True
    return False


def restates(concept: str, content: str, ratio: float) -> bool:
    """Whether a concept says nothing beyond its item: the same content words, or a near-copy."""
    words = content_words(concept)
    if words and words == content_words(content):
        return True
    return fuzz.ratio(concept_norm(concept), concept_norm(content)) >= ratio * 100


def _screen_one(
    draft: TriggerDraft, content: str, sources: Sequence[str], ratio: float
) -> tuple[TriggerDraft | None, int]:
    """The draft with any copied part removed, and how many parts were rejected."""
    if restates(draft.concept, content, ratio) or is_copy(draft.concept, sources, ratio):
        return None, 1
    bridge = draft.bridge
    if bridge and (is_copy(bridge, sources, ratio) or is_copy(bridge, [content], ratio)):
        return replace(draft, bridge=""), 1
    return draft, 0


def screen_drafts(
    drafts: Sequence[TriggerDraft],
    contents: Mapping[str, str],
    sources: Mapping[str, Sequence[str]],
    ratio: float,
) -> tuple[list[TriggerDraft], int]:
    """Screen Entity/Bridge drafts against their item's content and source turns.

    Within one item, drafts whose concept normalises to nothing or repeats an earlier concept
    are dropped silently (not counted: they are bookkeeping, not copies).

    Args:
        drafts: proposals in creation order.
        contents: item id -> item content.
        sources: item id -> the texts of the turns the item rests on.
        ratio: fuzzy ratio (0-1) at or above which a text counts as a copy.

    Returns:
        The surviving drafts and the number of rejected concepts and bridges.
    """
    kept: list[TriggerDraft] = []
    seen: set[tuple[str, str]] = set()
    rejected = 0
    for draft in drafts:
        key = (draft.item_id, concept_norm(draft.concept))
        if not key[1] or key in seen:
            continue
        seen.add(key)
        content = contents.get(draft.item_id, "")
        screened, count = _screen_one(draft, content, sources.get(draft.item_id, ()), ratio)
        rejected += count
        if screened is not None:
            kept.append(screened)
    return kept, rejected
