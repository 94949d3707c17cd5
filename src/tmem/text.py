"""The one tokenizer: word patterns and named stop-word sets, shared by every word-level check.

Lexical search, the hashing embedder, trigger screening and merging, the evaluation baselines
and the safety skeleton all cut text into words here. Words are lowercased before the stop-word
check; the sets below hold lowercase words.

Patterns
    :data:`WORD` is the tokenizer: a run of letters or digits of any script (``_`` and
    punctuation split words, so "don't" gives "don" and "t"). :data:`ASCII_WORD` keeps only
    ``a-z0-9`` runs of lowercased text ("café" gives "caf"): the evaluation baselines and the
    trigger checks were built on it, and their results and merges must not move.
    :data:`WORD_WITH_UNDERSCORE` is ``\\w+``: the safety skeleton treats ``_`` as part of a
    word when it looks for look-alike letters hidden inside one.

Stop-word sets (each a frozenset of lowercase words)
    :data:`STOP_WORDS` English function words (after NLTK's list, contractions split); lexical
    search drops them from queries.
    :data:`HASHING_STOP_WORDS` the hashing embedder's set: :data:`STOP_WORDS` without "ought".
    It is frozen, since stored hash vectors depend on it.
    :data:`CHAT_FILLERS` conversational fillers ("yeah", "okay", "thing", ...), disjoint from
    :data:`STOP_WORDS`.
    :data:`BASELINE_STOP_WORDS` the evaluation baselines' set (BM25 and the development-set
    overlap check): :data:`STOP_WORDS` without seven rare modals and contraction remnants, plus
    :data:`CHAT_FILLERS`. Frozen, since published baseline results depend on it.
    :data:`TRIGGER_STOP_WORDS` the short list of function words ignored when asking whether a
    trigger's concept just repeats its fact; a subset of :data:`STOP_WORDS`.
"""

from __future__ import annotations

import re
from collections.abc import Collection

WORD = re.compile(r"[^\W_]+")
"""A run of letters or digits (any script)."""

ASCII_WORD = re.compile(r"[a-z0-9]+")
"""A run of ASCII lowercase letters or digits; apply it to lowercased text."""

WORD_WITH_UNDERSCORE = re.compile(r"\w+")
"""A run of word characters, ``_`` included (any script)."""

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

HASHING_STOP_WORDS: frozenset[str] = STOP_WORDS - {"ought"}
"""The hashing embedder's stop-words; never change it, stored hash vectors depend on it."""

CHAT_FILLERS: frozenset[str] = frozenset(
    """
    also yes yeah oh ok okay hey hi hello um uh really quite maybe anyway well still even ever
    much many lot lots thing things something anything nothing everything get got getting go
    going gone went make made let lets like one ones way
    """.split()  # noqa: SIM905
)
"""Words of casual conversation that carry no topic either (none of them is in STOP_WORDS)."""

BASELINE_STOP_WORDS: frozenset[str] = (
    STOP_WORDS - {"ma", "might", "mightn", "must", "needn", "o", "shall"}
) | CHAT_FILLERS
"""The evaluation baselines' stop-words; never change it, published results depend on it."""

TRIGGER_STOP_WORDS: frozenset[str] = frozenset(
    """
    a an the of to in on at for with and or but is are was were be been has have had his her
    their its my our your he she they it i we you that this these those by from as about into s
    """.split()  # noqa: SIM905
)
"""Function words that carry no meaning when asking "does this concept just repeat the fact?"."""


def words(text: str, pattern: re.Pattern[str] = WORD) -> list[str]:
    """Lowercased word tokens of ``text`` in order (``pattern`` is applied to the lowercased
    text)."""
    return pattern.findall(text.lower())


def content_words(
    text: str, stop: Collection[str] = STOP_WORDS, pattern: re.Pattern[str] = WORD
) -> list[str]:
    """Lowercased word tokens of ``text`` that are not in ``stop``, in order."""
    return [word for word in words(text, pattern) if word not in stop]
