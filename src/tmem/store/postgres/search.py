"""Search on Postgres: ``tsvector`` full text and pgvector nearest neighbours.

Full text: the query is cut into word tokens (:func:`tmem.store.fts.query_tokens`), joined by
``or`` and parsed by ``websearch_to_tsquery``, which never raises on odd input; the tokens hold
only letters and digits, so no quote, ``-`` or operator of the user's can reach the parser.
Results are ranked by ``ts_rank_cd`` (cover density), best first, ties by id.

Vectors: a user with at most ``EXACT_ROWS`` searchable rows in a space is scanned exactly
through the ``(user_id, space, owner_id)`` primary key: a user's rows are a small part of a
shared HNSW graph, so with many users the index nearly always came back short after the user
filter (pgvector 0.6 has no iterative scan) and the exact scan ran anyway, after a wasted
graph walk. Larger users go through the HNSW index per space (cosine) first and fall back to
the exact scan when it returns fewer than ``limit``. Scores are dot products, as
in the SQLite store (embedders emit unit vectors, so this is the cosine).
"""

from __future__ import annotations

from psycopg import sql

from tmem.errors import InputError
from tmem.models import KINDS, Kind
from tmem.spaces import SPACES
from tmem.store.base import Scored, Vector
from tmem.store.fts import query_tokens
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.rows import vector_literal
from tmem.store.postgres.schema import VECTOR_TABLE
from tmem.store.vectors import check_query

_TEXT_TABLES = {"turn": "tmem_turns", "scene": "tmem_scenes", "item": "tmem_items"}
_MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search
EXACT_ROWS = 20_000
"""Up to this many rows, an exact scan of the user's vectors beats the shared HNSW graph."""

_OWNER_TABLES = {
    "turn": "tmem_turns",
    "scene": "tmem_scenes",
    "item": "tmem_items",
    "trigger": "tmem_triggers",
}
_SPACE_OWNERS: dict[str, str] = {space.name: _OWNER_TABLES[space.owner] for space in SPACES}
"""The table owning each vector space; a vector whose owner is gone is never returned."""


def web_query(query: str) -> str | None:
    """``query`` as ``websearch_to_tsquery`` input: word tokens joined by ``or``; None if empty."""
    tokens = [token for token in query_tokens(query) if token.lower() != "or"]
    return " or ".join(tokens) if tokens else None


def search_text(cursor: Cursor, user_id: str, kind: Kind, query: str, limit: int) -> list[Scored]:
    """Ranked full-text matches among the user's active memories of ``kind``."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; expected one of {KINDS}")
    text = web_query(query)
    if text is None or limit <= 0:
        return []
    active = " AND m.status = 'active'" if kind == "item" else ""
    cursor.execute(
        "SELECT m.id, ts_rank_cd(m.tsv, q) AS score"
        f" FROM {_TEXT_TABLES[kind]} m, websearch_to_tsquery('english', %s) AS q"
        f" WHERE m.user_id = %s AND m.tsv @@ q{active}"
        ' ORDER BY score DESC, m.id COLLATE "C" LIMIT %s',
        (text, user_id, limit),
    )
    return [Scored(str(owner), float(score)) for owner, score in cursor.fetchall()]


def _owner_filter(space: str) -> str:
    owner = _SPACE_OWNERS[space]
    active = " AND o.status = 'active'" if owner == "tmem_items" else ""
    return (
        f"EXISTS (SELECT 1 FROM {owner} o WHERE o.user_id = v.user_id"
        f" AND o.id = v.owner_id{active})"
    )


def _nearest(cursor: Cursor, user_id: str, space: str, literal: str, limit: int) -> list[Scored]:
    """Candidates through the space's HNSW index (approximate, may come back short)."""
    ef_search = min(_MAX_EF_SEARCH, max(40, limit * 4))
    cursor.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
    # The space is spliced as a literal (it is one of SPACES, checked) so that the planner can
    # match the partial index ``WHERE space = '<space>'`` even for a generic plan.
    cursor.execute(
        "SELECT v.owner_id, -(v.embedding <#> %(q)s::vector)"
        f" FROM {VECTOR_TABLE} v WHERE v.user_id = %(u)s AND v.space = '{space}'"
        f" AND {_owner_filter(space)}"
        " ORDER BY v.embedding <=> %(q)s::vector LIMIT %(n)s",
        {"q": literal, "u": user_id, "n": limit},
    )
    return [Scored(str(owner), float(score)) for owner, score in cursor.fetchall()]


def _exact(cursor: Cursor, user_id: str, space: str, literal: str, limit: int) -> list[Scored]:
    """Every one of the user's vectors in ``space`` scored; ``+ 0`` keeps the index out."""
    cursor.execute(
        "SELECT v.owner_id, -(v.embedding <#> %(q)s::vector) + 0 AS score"
        f" FROM {VECTOR_TABLE} v WHERE v.user_id = %(u)s AND v.space = '{space}'"
        f" AND {_owner_filter(space)}"
        ' ORDER BY score DESC, v.owner_id COLLATE "C" LIMIT %(n)s',
        {"q": literal, "u": user_id, "n": limit},
    )
    return [Scored(str(owner), float(score)) for owner, score in cursor.fetchall()]


def _searchable(cursor: Cursor, user_id: str, space: str, cap: int) -> int:
    """The user's searchable rows in ``space``, counted up to ``cap`` (a bounded cost)."""
    cursor.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {VECTOR_TABLE} v WHERE v.user_id = %s"
        f" AND v.space = '{space}' AND {_owner_filter(space)} LIMIT %s) AS capped",
        (user_id, cap),
    )
    row = cursor.fetchone()
    return int(row[0]) if row else 0


def search_vectors(
    cursor: Cursor, user_id: str, space: str, query: Vector, limit: int, dim: int | None
) -> list[Scored]:
    """The user's ``limit`` best vectors in ``space`` by dot product, best first, ties by id.

    A query of another length than the store's vectors matches nothing, as in SQLite.
    """
    vector = check_query(space, query)
    if limit <= 0 or dim is None or vector.shape[0] != dim:
        return []
    literal = vector_literal(vector)
    searchable = _searchable(cursor, user_id, space, EXACT_ROWS + 1)
    if searchable <= EXACT_ROWS:
        return _exact(cursor, user_id, space, literal, limit) if searchable else []
    found = _nearest(cursor, user_id, space, literal, limit)
    if len(found) < limit and searchable > len(found):
        return _exact(cursor, user_id, space, literal, limit)
    return sorted(found, key=lambda scored: (-scored.score, scored.id))
