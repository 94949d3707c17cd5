"""Peer vector stores for the side-by-side run; each imported only when asked for.

A peer holds one row per turn (the same vector tmem stored for it, plus the user id) and
answers each query with the user's top ``limit`` by cosine, query embedding included. It runs
one channel where tmem runs several (two vector spaces, BM25, fusion, record fetch), so the
ratio is of a whole tmem search to a bare vector lookup.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tmem.embed.base import Embedder
from tmem.eval.speed.measure import disk_mb, load_average, peak_rss_mb, rss_mb
from tmem.eval.speed.speed import time_searches
from tmem.eval.speed.workload import Progress, SpeedParams, SystemResult, Workload, warmup_count

PEERS = ("lancedb", "none")
_BATCH = 20_000
VectorOf = Callable[[str], npt.NDArray[np.float32]]


def _rows(workload: Workload, vector_of: VectorOf) -> Iterator[dict[str, Any]]:
    for user_id in workload.users():
        for i, session in enumerate(workload.sessions(user_id)):
            for j, message in enumerate(session):
                text = f"{message['speaker']}: {message['content']}"
                yield {
                    "id": f"{user_id}/{i}/{j}",
                    "user_id": user_id,
                    "text": text,
                    "vector": vector_of(text),
                }


def _chunks(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_lancedb(
    params: SpeedParams,
    out: Path,
    vector_of: VectorOf,
    query_embedder: Embedder,
    embed_seconds_per_turn: float,
    progress: Progress,
) -> SystemResult:
    """Load the turn vectors into LanceDB (scalar index on ``user_id``) and time the queries.

    Exact (flat) vector search, like tmem's: an ANN index would trade recall for speed.
    ``embed_seconds_per_turn`` charges the peer the same model cost for one vector per turn
    that tmem pays, since the peer is handed vectors tmem already computed.
    """
    import lancedb

    folder = out / "lancedb"
    shutil.rmtree(folder, ignore_errors=True)
    db = lancedb.connect(str(folder))
    workload = Workload(params)
    result = SystemResult()
    start = time.perf_counter()
    table: Any = None
    for chunk in _chunks(_rows(workload, vector_of), _BATCH):
        if table is None:
            table = db.create_table("turns", data=chunk)
        else:
            table.add(chunk)
        result.rows += len(chunk)
        progress(f"lancedb: {result.rows} rows")
    if table is None:
        return result
    with warnings.catch_warnings():
        # lancedb 0.25+ flags this call as deprecated; its replacement is for vector columns.
        warnings.simplefilter("ignore", DeprecationWarning)
        table.create_scalar_index("user_id")
    insert_s = time.perf_counter() - start
    result.ingest_s = insert_s + embed_seconds_per_turn * result.rows
    result.ingest_per_s = result.rows / result.ingest_s if result.ingest_s else 0.0
    result.extra["insert_per_s"] = round(result.rows / insert_s, 1) if insert_s else 0.0
    result.extra["load_ingest"] = load_average()

    def search(query: str, user_id: str) -> Sequence[Any]:
        vector = query_embedder.embed([query])[0]
        found: Sequence[Any] = (
            table.search(vector)
            .metric("cosine")
            .where(f"user_id = '{user_id}'", prefilter=True)
            .limit(params.limit)
            .to_list()
        )
        return found

    result.search_samples = time_searches(search, workload.plan(), warmup_count(params))
    result.extra["load_search"] = load_average()
    result.rss_mb = rss_mb()
    result.extra["peak_rss_mb"] = peak_rss_mb()
    result.db_mb = disk_mb(folder)
    return result
