"""BM25 over one user's rows of the SQLite full-text index (the user's FTS5 shard).

Every row carries its user's scope token (:func:`tmem.store.fts.scope_token`), so a query ANDs
that token in and FTS5 walks one user's postings, not every user's.

Ranking the matches is where the time goes. FTS5's ``bm25()`` computes each query word's IDF by
walking that word's posting list over the **whole** table, every query: with a million rows a
common word costs tens of milliseconds even when the user has a hundred rows. So when a query
matches at most ``PYTHON_RANK_MAX`` of the user's rows (the common case), the matches are read
and scored here with FTS5's own formula but **per-user** statistics: a word's IDF comes from
the user's rows (all of which the query matched if they hold the word), ``N`` is the user's row
count, and the average length comes from the user's rows alone (``fts_lengths``, kept by
:mod:`.rows`; see :func:`_average`): other tenants' text never moves a user's scores, and what
full mode derives never moves the ranking of the user's turns. Past that bound the
user dominates the postings anyway, and FTS5's ``bm25()`` ranks, reading only rowids and
scores, with its shard's statistics.
"""

from __future__ import annotations

import math
import sqlite3
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from tmem.errors import InputError
from tmem.models import KINDS, Kind
from tmem.porter import stem
from tmem.spaces import SPACES
from tmem.store.base import Scored, Vector
from tmem.store.fts import match_expression, query_tokens, scoped_expression
from tmem.store.sqlite import read
from tmem.store.sqlite.rows import in_chunks
from tmem.store.sqlite.schema import fts_table
from tmem.store.vectors import VectorCache, VectorMatrix, check_query, top_k
from tmem.text import WORD

PYTHON_RANK_MAX = 1_000
"""Matches scored here at most; a query matching more of the user's rows is ranked by FTS5."""

ITEM_SLACK = 4
"""Items may be inactive: FTS5 ranks this many times the limit before they are filtered out."""

K1, B = 1.2, 0.75
"""FTS5's bm25() constants."""

TURN_LENGTH_SCALE = 1.88
"""A turn's length is compared with this multiple of the user's average turn (see :func:`_average`).

LLM-free mode long compared turns with the average over the user's turns and plain scenes;
a plain scene retells about 18 turns in one row, which puts that average at 1.88 times the
average turn (1.881 to 1.888 on each of the ten LoCoMo conversations, which are long chats of
varied lengths). Fixing the multiple keeps that gentler length normalisation, which ranks turns
better than the turns' own average does, and makes it independent of what a model derives.
"""

_TABLES = {"turn": "turns", "scene": "scenes", "item": "items"}

_OWNER_TABLES = {"turn": "turns", "scene": "scenes", "item": "items", "trigger": "triggers"}
_SPACE_OWNERS: dict[str, str] = {space.name: _OWNER_TABLES[space.owner] for space in SPACES}
"""The table owning each vector space; a vector whose owner is gone is never returned."""


# --- search -------------------------------------------------------------------------------------
def _bm25(
    conn: sqlite3.Connection, user_id: str, kind: Kind, query: str, limit: int
) -> list[Scored]:
    """The best ``limit`` of ``user_id``'s active ``kind`` rows for ``query``, by BM25."""
    expression = match_expression(query)
    if expression is None or limit <= 0:
        return []
    scoped = scoped_expression(user_id, kind, expression)
    table = fts_table(user_id)
    rowids = [
        int(rowid)
        for (rowid,) in conn.execute(
            f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?",
            (scoped, PYTHON_RANK_MAX + 1),
        )
    ]
    if len(rowids) <= PYTHON_RANK_MAX:
        stats = Stats(rows=_user_rows(conn, user_id, kind), avgdl=_average(conn, user_id, kind))
        scored = rank(query_tokens(query), _bodies(conn, table, rowids), stats)
        hits = _owners(conn, user_id, scored)
        return (_active(conn, user_id, hits) if kind == "item" else hits)[:limit]
    return _fts5_ranked(conn, user_id, kind, scoped, limit)


def search_text(
    conn: sqlite3.Connection, user_id: str, kind: Kind, query: str, limit: int
) -> list[Scored]:
    """BM25 over the user's active memories of ``kind`` (see the module's doc).

    Scores use the user's own statistics; only a query matching more than
    :data:`PYTHON_RANK_MAX` of the user's rows is scored with its shard's, where other users'
    text can shift scores, never results' membership.
    """
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; expected one of {KINDS}")
    return _bm25(conn, user_id, kind, query, limit)


def vector_matrix(
    conn: sqlite3.Connection, cache: VectorCache, user_id: str, space: str, dim: int
) -> VectorMatrix | None:
    """The user's searchable vectors in ``space``, from the cache while the generation holds."""
    current = read.generation(conn, user_id)
    if current is None:
        return None
    cached = cache.get(user_id, space, dim, current)
    if cached is not None:
        return cached
    owner_table = _SPACE_OWNERS[space]
    active = " AND o.status = 'active'" if owner_table == "items" else ""
    rows = conn.execute(
        "SELECT v.owner_id, v.vector FROM vectors v WHERE v.user_id = ? AND v.space = ?"
        f" AND EXISTS (SELECT 1 FROM {owner_table} o WHERE o.user_id = v.user_id"
        f" AND o.id = v.owner_id{active}) ORDER BY v.owner_id",
        (user_id, space),
    ).fetchall()
    matrix = VectorMatrix.from_blobs(current, [(str(o), bytes(b)) for o, b in rows], dim)
    cache.put(user_id, space, dim, matrix)
    return matrix


def search_vectors(
    conn: sqlite3.Connection,
    cache: VectorCache,
    user_id: str,
    space: str,
    query: Vector,
    limit: int,
) -> list[Scored]:
    vector = check_query(space, query)
    matrix = vector_matrix(conn, cache, user_id, space, vector.shape[0])
    return [] if matrix is None else top_k(matrix, vector, limit)


# --- scoring here ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Corpus statistics BM25 needs: the user's row count and the average row length."""

    rows: int
    avgdl: float


def rank(
    tokens: Sequence[str], matched: Sequence[tuple[int, str]], stats: Stats
) -> list[tuple[int, float]]:
    """``(rowid, score)`` of ``matched`` rows, best first (ties by rowid), FTS5's formula.

    ``matched`` must be every row of the user that holds any query token: a token's document
    frequency is counted among them. A row's length counts its scope token, as FTS5's does
    (:func:`tmem.store.fts.indexed_length`).
    """
    terms = list(dict.fromkeys(stem_token(t) for t in tokens))
    wanted = set(terms)
    rows = []
    for rowid, body in matched:
        words = WORD.findall(body)
        tf = Counter(term for term in map(stem_token, words) if term in wanted)
        rows.append((rowid, len(words) + 1, tf))
    idf = {term: _idf(stats.rows, sum(1 for _, _, tf in rows if term in tf)) for term in terms}
    scores = []
    for rowid, length, tf in rows:
        norm = K1 * (1 - B + B * length / stats.avgdl) if stats.avgdl > 0 else K1
        score = sum(idf[t] * tf[t] * (K1 + 1) / (tf[t] + norm) for t in terms if t in tf)
        scores.append((rowid, score))
    scores.sort(key=lambda pair: (-pair[1], pair[0]))
    return scores


def _idf(rows: int, hits: int) -> float:
    value = math.log((rows - hits + 0.5) / (hits + 0.5)) if rows > 0 else 0.0
    return value if value > 0 else 1e-6


def index_terms(text: str) -> list[str]:
    """``text`` as FTS5's ``porter unicode61`` tokenizer indexes it."""
    return [stem_token(word) for word in WORD.findall(text)]


@lru_cache(maxsize=65_536)
def stem_token(word: str) -> str:
    """Case-folded, diacritics removed (unicode61's default), then Porter-stemmed."""
    folded = unicodedata.normalize("NFKD", word.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return stem(plain) if plain.isascii() else plain


def _average(conn: sqlite3.Connection, user_id: str, kind: str) -> float:
    """The length BM25 compares a ``kind`` row of the user with (0: none, no normalisation).

    A turn: :data:`TURN_LENGTH_SCALE` times the average of the user's turns, so the scenes and
    items full mode derives never move the ranking of the turns, and full mode's floor
    (:mod:`tmem.retrieve.merge`) is exactly LLM-free mode's ranking. A scene or an item: the
    average over every row of the user, every kind.
    """
    if kind == "turn":
        row = conn.execute(
            "SELECT rows, tokens FROM fts_lengths WHERE user_id = ? AND kind = 'turn'", (user_id,)
        ).fetchone()
        scale = TURN_LENGTH_SCALE
    else:
        row = conn.execute(
            "SELECT sum(rows), sum(tokens) FROM fts_lengths WHERE user_id = ?", (user_id,)
        ).fetchone()
        scale = 1.0
    return scale * row[1] / row[0] if row is not None and row[0] else 0.0


def _bodies(conn: sqlite3.Connection, table: str, rowids: Sequence[int]) -> list[tuple[int, str]]:
    bodies: list[tuple[int, str]] = []
    for chunk, marks in in_chunks(rowids):
        rows = conn.execute(f"SELECT rowid, body FROM {table} WHERE rowid IN ({marks})", chunk)
        bodies.extend((int(rowid), str(body)) for rowid, body in rows)
    return bodies


def _user_rows(conn: sqlite3.Connection, user_id: str, kind: str) -> int:
    table = _TABLES[kind]
    (count,) = conn.execute(
        f"SELECT count(*) FROM {table} WHERE user_id = ?", (user_id,)
    ).fetchone()
    return int(count)


# --- ranking by FTS5 ------------------------------------------------------------------------
def _fts5_ranked(
    conn: sqlite3.Connection, user_id: str, kind: str, scoped: str, limit: int
) -> list[Scored]:
    table = fts_table(user_id)
    if kind != "item":
        return _owners(conn, user_id, _fts5_scores(conn, table, scoped, limit))
    wanted = limit * ITEM_SLACK
    scored = _fts5_scores(conn, table, scoped, wanted)
    hits = _active(conn, user_id, _owners(conn, user_id, scored))
    if len(hits) < limit and len(scored) == wanted:
        everything = _fts5_scores(conn, table, scoped, None)
        hits = _active(conn, user_id, _owners(conn, user_id, everything))
    return hits[:limit]


def _fts5_scores(
    conn: sqlite3.Connection, table: str, expression: str, limit: int | None
) -> list[tuple[int, float]]:
    rows = conn.execute(
        f"SELECT rowid, -bm25({table}, 1.0, 0.0) AS score FROM {table} WHERE {table} MATCH ?"
        " ORDER BY score DESC, rowid LIMIT ?",
        (expression, -1 if limit is None else limit),
    ).fetchall()
    return [(int(rowid), float(score)) for rowid, score in rows]


# --- owners and status ----------------------------------------------------------------------
def _owners(
    conn: sqlite3.Connection, user_id: str, scored: Sequence[tuple[int, float]]
) -> list[Scored]:
    owners: dict[int, str] = {}
    rowids = [rowid for rowid, _ in scored]
    for chunk, marks in in_chunks(rowids):
        rows = conn.execute(
            # "+user_id": look rows up by doc; the (user_id, owner_id) index would walk all of
            # a large user's rows instead.
            f"SELECT doc, owner_id FROM fts_docs WHERE doc IN ({marks}) AND +user_id = ?",
            (*chunk, user_id),
        )
        owners.update((int(doc), str(owner)) for doc, owner in rows)
    return [Scored(owners[rowid], score) for rowid, score in scored if rowid in owners]


def _active(conn: sqlite3.Connection, user_id: str, hits: Sequence[Scored]) -> list[Scored]:
    ids = [hit.id for hit in hits]
    active: set[str] = set()
    for chunk, marks in in_chunks(ids):
        rows = conn.execute(
            f"SELECT id FROM items WHERE user_id = ? AND status = 'active' AND id IN ({marks})",
            (user_id, *chunk),
        )
        active.update(str(item_id) for (item_id,) in rows)
    return [hit for hit in hits if hit.id in active]
