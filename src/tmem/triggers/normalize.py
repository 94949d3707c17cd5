"""Canonical forms of trigger text, used for equality and fuzzy comparison.

:func:`concept_norm` is the one normaliser trigger texts are compared through: grouping the
model's drafts, merging triggers within a batch (:mod:`tmem.triggers.merge`) and merging a
batch's triggers into the user's stored ones (:func:`tmem.ingest.vectors.merge_into_existing`).
"""

from __future__ import annotations

import re

from tmem.text import ASCII_WORD, TRIGGER_STOP_WORDS
from tmem.text import content_words as _content_words

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")


def concept_norm(text: str) -> str:
    """Lowercase, collapse whitespace and strip punctuation from both ends.

    Idempotent: ``concept_norm(concept_norm(x)) == concept_norm(x)``.
    """
    collapsed = " ".join(text.lower().split())
    return _EDGE_PUNCTUATION.sub("", collapsed)


def content_words(text: str) -> frozenset[str]:
    """The lowercase alphanumeric words of ``text`` minus function words
    (:data:`tmem.text.TRIGGER_STOP_WORDS`)."""
    return frozenset(_content_words(text, TRIGGER_STOP_WORDS, ASCII_WORD))
