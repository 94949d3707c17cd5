"""Canonical forms of trigger text, used for equality and fuzzy comparison."""

from __future__ import annotations

import re

_EDGE_PUNCTUATION = re.compile(r"^[\W_]+|[\W_]+$")
_WORD = re.compile(r"[a-z0-9]+")

# Function words carry no meaning when asking "does this concept just repeat the fact?".
_STOP_TEXT = (
    "a an the of to in on at for with and or but is are was were be been has have had his her "
    "their its my our your he she they it i we you that this these those by from as about into s"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())


def concept_norm(text: str) -> str:
    """Lowercase, collapse whitespace and strip punctuation from both ends.

    Idempotent: ``concept_norm(concept_norm(x)) == concept_norm(x)``.
    """
    collapsed = " ".join(text.lower().split())
    return _EDGE_PUNCTUATION.sub("", collapsed)


def content_words(text: str) -> frozenset[str]:
    """The lowercase alphanumeric words of ``text`` minus function words."""
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in _STOP_WORDS)
