"""Full-text search helpers every backend shares: what text is indexed and how a query is read.

User text never reaches the query language: the query is cut into word tokens, each token is
quoted as a phrase, and the phrases are OR-ed. Quotes, ``NEAR``, ``*``, ``-``, parentheses,
column filters and NUL bytes therefore lose their meaning instead of raising a syntax error.
"""

from __future__ import annotations

from tmem.models import Item, Record, Scene
from tmem.text import STOP_WORDS, WORD

MAX_QUERY_TOKENS = 64
"""Longer queries keep their first 64 distinct tokens, which bounds the cost of one search."""


def index_text(record: Record) -> str:
    """The text a record is indexed under.

    A turn is ``speaker: content``; a scene is title, summary and narrative; an item is its
    content plus keywords, query patterns, temporal and spatial anchors.
    """
    if isinstance(record, Scene):
        return "\n".join((record.title, record.summary, record.narrative))
    if isinstance(record, Item):
        parts = (
            record.content,
            " ".join(record.keywords),
            " ".join(record.query_patterns),
            record.temporal,
            record.spatial,
        )
        return "\n".join(parts)
    return record.text


def indexed_length(text: str) -> int:
    """Tokens an FTS row with body ``text`` holds: the body's words and the one scope token.

    BM25's length normalisation compares this with the average over the user's rows of a kind.
    """
    return len(WORD.findall(text)) + 1


def query_tokens(query: str) -> list[str]:
    """Distinct content-word tokens of ``query`` in order, at most ``MAX_QUERY_TOKENS``.

    Stop-words are dropped: "what", "about" or "the" would otherwise match nearly every
    document and drown the words that carry the query's topic.
    """
    seen: dict[str, None] = {}
    for match in WORD.finditer(query):
        if match.group(0).lower() in STOP_WORDS:
            continue
        seen.setdefault(match.group(0), None)
        if len(seen) >= MAX_QUERY_TOKENS:
            break
    return list(seen)


def match_expression(query: str) -> str | None:
    """An FTS5 ``MATCH`` expression for ``query``: quoted tokens joined by OR; None if empty.

    Tokens hold only letters and digits, so a double quote can never appear inside one.
    """
    tokens = query_tokens(query)
    if not tokens:
        return None
    return phrase_expression(tokens)


def phrase_expression(tokens: list[str]) -> str:
    """``tokens`` (from :func:`query_tokens`) quoted as phrases and OR-ed."""
    return " OR ".join(f'"{token}"' for token in tokens)


def scope_token(user_id: str, kind: str) -> str:
    """The one FTS token standing for ``user_id``'s records of ``kind``.

    ``u`` + the UTF-8 hex of the user id + ``x`` + the kind: letters and digits only, so the
    tokenizer keeps it whole whatever the id holds, and distinct users get distinct tokens.
    Matches SQL ``'u' || hex(user_id) || 'x' || kind`` (used when migrating old stores).
    """
    return f"u{user_id.encode('utf-8').hex().upper()}x{kind}"


def scoped_expression(user_id: str, kind: str, expression: str) -> str:
    """``expression`` over the body of the rows carrying ``user_id``'s scope token for ``kind``.

    The body filter keeps query words from ever matching the scope column.
    """
    return f'scope : "{scope_token(user_id, kind)}" AND body : ({expression})'
