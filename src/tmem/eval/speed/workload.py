"""One speed run's parameters, its seeded workload and what a system measured.

Shared by the tmem run (``speed``), the peers (``peers``) and the Postgres bulk loader
(``pg_bulk``), so that none of them imports another for its data types.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from tmem.eval.speed.generate import conversation, queries
from tmem.eval.speed.measure import percentiles

VectorsKind = Literal["random", "model"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SpeedParams:
    """One run's knobs; all of them are written into ``results.json``."""

    users: int
    memories: int
    vectors: VectorsKind = "random"
    peer: str = "none"
    store: Literal["sqlite", "postgres"] = "sqlite"
    pg_url: str = ""
    queries: int = 500
    limit: int = 10
    seed: int = 7
    session_turns: int = 20
    query_model: bool = True
    """With random vectors: embed each query with the real model, so latency includes it."""
    bulk: bool = False
    """Postgres only: load the same rows through ``COPY``, indexes built after (pg_bulk)."""
    reuse: bool = False
    """SQLite only: search the database an earlier run of the same workload left in ``out``."""

    @property
    def turns_per_user(self) -> int:
        # LLM-free ingestion writes one scene per session: memories = turns + turns / session.
        per_user = self.memories / max(self.users, 1)
        return max(1, round(per_user * self.session_turns / (self.session_turns + 1)))


@dataclass
class SystemResult:
    """What one system measured; ``to_json`` gives the ``results.json`` entry."""

    ingest_per_s: float = 0.0
    ingest_s: float = 0.0
    rows: int = 0
    search_samples: list[float] = field(default_factory=list)
    rss_mb: float = 0.0
    db_mb: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "search_ms": percentiles(self.search_samples),
            "ingest_per_s": round(self.ingest_per_s, 1),
            "ingest_s": round(self.ingest_s, 2),
            "rows": self.rows,
            "rss_mb": self.rss_mb,
            "db_mb": self.db_mb,
            **self.extra,
        }


@dataclass(frozen=True)
class Workload:
    """The users, their sessions (built lazily per user) and the query plan."""

    params: SpeedParams

    def users(self) -> list[str]:
        return [f"user-{i:05d}" for i in range(self.params.users)]

    def sessions(self, user_id: str) -> list[list[dict[str, str]]]:
        p = self.params
        return conversation(p.seed, user_id, p.turns_per_user, p.session_turns)

    def plan(self) -> list[tuple[str, str]]:
        """(user, query) pairs: warm-up first, then the timed ones, users drawn at random."""
        rng = random.Random(f"{self.params.seed}:plan")
        users = self.users()
        asked = queries(self.params.seed, self.params.queries + warmup_count(self.params))
        return [(rng.choice(users), q) for q in asked]


def warmup_count(params: SpeedParams) -> int:
    return min(50, params.queries // 10)
