"""``tmem bench speed``: ingest a seeded workload into tmem (and a peer), then time searches.

The run loads ``memories`` searchable rows over ``users`` users through :meth:`Memory.add`
(LLM-free; on Postgres, ``bulk`` writes the same rows through ``COPY`` instead), measures the
embedder's own ceiling on the same texts, then asks at least 500 queries of random users and
records every latency, the database size and the process's RSS. A peer vector store, when
named, holds the same turn vectors and answers the same queries.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from tmem.clock import SystemClock
from tmem.config import Config
from tmem.embed.base import Embedder
from tmem.errors import ConfigError
from tmem.eval.speed.embedders import RandomEmbedder, RecordingEmbedder, random_vector
from tmem.eval.speed.measure import disk_mb, load_average, peak_rss_mb, rss_mb, timed_ms
from tmem.eval.speed.workload import (
    Progress,
    SpeedParams,
    SystemResult,
    Workload,
    warmup_count,
)
from tmem.ingest.llm_free import context_text
from tmem.memory import Memory
from tmem.models import Turn
from tmem.store.factory import open_store


def build_embedder(params: SpeedParams, model: Callable[[], Embedder]) -> Embedder:
    if params.vectors == "model":
        return RecordingEmbedder(model())
    return RandomEmbedder(query_model=model() if params.query_model else None)


def open_memory(params: SpeedParams, out: Path, embedder: Embedder) -> Memory:
    target = params.pg_url if params.store == "postgres" else str(out / "tmem.db")

    return Memory(open_store(target), embedder, None, Config(), SystemClock())


def ingest(
    memory: Memory, workload: Workload, progress: Progress
) -> tuple[SystemResult, list[list[dict[str, str]]]]:
    """Add every user's sessions; return the timing and a sample of sessions for the ceiling."""
    result = SystemResult()
    turns = 0
    sample: list[list[dict[str, str]]] = []
    start = time.perf_counter()
    for n, user_id in enumerate(workload.users()):
        for i, session in enumerate(workload.sessions(user_id)):
            report = memory.add(session, user_id, session_id=f"s{i}")
            turns += report.turns
            result.rows += (
                report.turns + report.scenes + report.items + sum(report.triggers.values())
            )
            if len(sample) < 8:
                sample.append(session)
        if n % max(1, len(workload.users()) // 20) == 0:
            progress(f"ingest: {n + 1}/{len(workload.users())} users, {turns} turns")
    result.ingest_s = time.perf_counter() - start
    result.ingest_per_s = turns / result.ingest_s if result.ingest_s else 0.0
    result.extra.update(turns=turns, load_method="add")
    return result, sample


def embedder_ceiling(
    embedder: Embedder, sessions: Sequence[list[dict[str, str]]]
) -> dict[str, float]:
    """Texts/s of the embedder on turn texts and on context texts, and the turns/s they allow.

    The LLM-free write path embeds each turn and its context (the turn with its neighbours),
    so its ceiling is one over the sum of both per-turn costs.
    """
    turn_texts: list[str] = []
    context_texts: list[str] = []
    for session in sessions:
        members = [_as_turn(m, i) for i, m in enumerate(session)]
        turn_texts.extend(t.text for t in members)
        context_texts.extend(context_text(members, i) for i in range(len(members)))
    if not turn_texts:
        return {}
    turn_s = timed_ms(lambda: embedder.embed(turn_texts)) / 1000.0
    context_s = timed_ms(lambda: embedder.embed(context_texts)) / 1000.0
    return {
        "turn_texts_per_s": round(len(turn_texts) / turn_s, 1),
        "context_texts_per_s": round(len(context_texts) / context_s, 1),
        "turns_per_s": round(len(turn_texts) / (turn_s + context_s), 1),
    }


def _as_turn(message: dict[str, str], seq: int) -> Turn:

    return Turn(
        id=f"t{seq}",
        user_id="",
        session_id="",
        seq=seq,
        speaker=message["speaker"],
        content=message["content"],
        timestamp=datetime.fromisoformat(message["timestamp"]),
    )


def time_searches(
    search: Callable[[str, str], object], plan: Sequence[tuple[str, str]], warmup: int
) -> list[float]:
    """Latency in ms of each planned search after the first ``warmup`` (untimed)."""
    for user_id, query in plan[:warmup]:
        search(query, user_id)
    samples: list[float] = []
    for user_id, query in plan[warmup:]:
        start = time.perf_counter()
        search(query, user_id)
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def run_tmem(
    params: SpeedParams, out: Path, model: Callable[[], Embedder], progress: Progress
) -> tuple[SystemResult, Embedder]:
    workload = Workload(params)
    embedder = build_embedder(params, model)
    loaded = _bulk_ingest(params, workload, embedder, progress) if params.bulk else None
    if params.reuse:
        loaded = reused_ingest(params, out, workload)
    memory = open_memory(params, out, embedder)
    try:
        result, sample = loaded or ingest(memory, workload, progress)
        if params.store == "sqlite" and not params.reuse:
            save_ingest(params, out, result)
        if not params.reuse:  # a reused run keeps the load its ingestion saw
            result.extra["load_ingest"] = load_average()
        ceiling = model() if params.vectors == "model" else embedder
        result.extra["embedder_ceiling"] = embedder_ceiling(ceiling, sample)
        progress(f"ingest: {result.ingest_per_s:.1f} turns/s; searching")
        result.search_samples = time_searches(
            lambda q, u: memory.search(q, u, params.limit), workload.plan(), warmup_count(params)
        )
        result.extra["load_search"] = load_average()
        result.rss_mb = rss_mb()
        result.extra["peak_rss_mb"] = peak_rss_mb()
        result.db_mb = _db_mb(params, out)
    finally:
        memory.close()
    return result, embedder


INGEST_FILE = "ingest.json"
"""What a SQLite run's ingestion measured, kept next to its database for ``--reuse``."""


def workload_key(params: SpeedParams) -> dict[str, Any]:
    """The parameters that decide what a run's database holds."""
    return {
        "users": params.users,
        "memories": params.memories,
        "vectors": params.vectors,
        "seed": params.seed,
        "session_turns": params.session_turns,
    }


def save_ingest(params: SpeedParams, out: Path, result: SystemResult) -> None:
    data = {
        "workload": workload_key(params),
        "ingest_per_s": result.ingest_per_s,
        "ingest_s": result.ingest_s,
        "rows": result.rows,
        "extra": result.extra,
    }
    (out / INGEST_FILE).write_text(json.dumps(data, indent=2))


def reused_ingest(
    params: SpeedParams, out: Path, workload: Workload
) -> tuple[SystemResult, list[list[dict[str, str]]]]:
    """The ingest figures of the earlier run whose database is in ``out``.

    Raises:
        ConfigError: no earlier run there, or it loaded a different workload.
    """
    path = out / INGEST_FILE
    if not path.is_file() or not (out / "tmem.db").is_file():
        raise ConfigError(f"--reuse: no earlier SQLite run in {out} (need tmem.db and {path.name})")
    data = json.loads(path.read_text())
    if data.get("workload") != workload_key(params):
        raise ConfigError(f"--reuse: {out} holds another workload: {data.get('workload')}")
    result = SystemResult(
        ingest_per_s=float(data["ingest_per_s"]),
        ingest_s=float(data["ingest_s"]),
        rows=int(data["rows"]),
        extra={**data["extra"], "reused": True},
    )
    sample: list[list[dict[str, str]]] = []
    for user_id in workload.users():
        sample.extend(workload.sessions(user_id)[: 8 - len(sample)])
        if len(sample) >= 8:
            break
    return result, sample


def _bulk_ingest(
    params: SpeedParams, workload: Workload, embedder: Embedder, progress: Progress
) -> tuple[SystemResult, list[list[dict[str, str]]]]:
    if params.store != "postgres":
        raise ConfigError("bulk loading is for --store postgres")
    from tmem.eval.speed.pg_bulk import bulk_ingest

    return bulk_ingest(params, workload, embedder, progress)


def _db_mb(params: SpeedParams, out: Path) -> float:
    if params.store == "sqlite":
        return disk_mb(out / "tmem.db")
    import psycopg

    with psycopg.connect(params.pg_url) as conn:
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return round(int(row[0]) / 2**20, 1) if row else 0.0


def turn_vector_source(
    params: SpeedParams, embedder: Embedder
) -> Callable[[str], np.ndarray[Any, np.dtype[np.float32]]]:
    """Where the peer gets each turn's vector: the very vector tmem stored for it."""
    if isinstance(embedder, RecordingEmbedder):
        recorded = embedder.vectors
        return lambda text: recorded[text]
    return random_vector


def params_json(params: SpeedParams) -> dict[str, Any]:
    data = asdict(params)
    data["pg_url"] = "set" if params.pg_url else ""
    data["turns_per_user"] = params.turns_per_user
    return data
