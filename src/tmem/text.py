"""Word-level text helpers shared by lexical search, the hashing embedder and trigger checks."""

from __future__ import annotations

import re

WORD = re.compile(r"[^\W_]+")
"""A run of letters or digits (any script)."""

STOP_WORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could couldn d did didn do does doesn doing don
    down during each few for from further had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just ll m ma me might mightn
    more most must mustn my myself needn no nor not now o of off on once only or other ought our
    ours ourselves out over own re s same shall shan she should shouldn so some such t than that
    the their theirs them themselves then there these they this those through to too under until
    up ve very was wasn we were weren what when where which while who whom why will with won
    would wouldn y you your yours yourself yourselves
    """.split()  # noqa: SIM905 - one string keeps the list readable
)
"""English function words (after NLTK's list, contractions split): they carry no topic."""


def words(text: str) -> list[str]:
    """Lowercased word tokens of ``text`` in order."""
    return WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """Lowercased word tokens of ``text`` that are not stop-words, in order."""
    return [word for word in words(text) if word not in STOP_WORDS]
