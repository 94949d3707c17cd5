"""Read-only integrity checks on a store after a hostile run, the same on SQLite and Postgres."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from tmem.config import Config, EmbedderConfig
from tmem.memory import Memory

HASH = Config(embedder=EmbedderConfig(kind="hash"))


@dataclass
class Integrity:
    turns: int = 0
    duplicate_seq: int = 0
    detached_turns: int = 0
    contents: Counter[str] = field(default_factory=Counter)


def check_users(db: str, users: list[str]) -> Integrity:
    """Turn counts, duplicate ``seq`` values, turns missing from their scene's sources, and
    how often each turn text is stored, over ``users`` (store user ids)."""
    found = Integrity()
    with Memory.open(db, HASH) as memory:
        for user in users:
            rows = list(memory.export(user))
            turns = [r for r in rows if r.get("type") == "turn"]
            sources = {r["id"]: set(r["source_turns"]) for r in rows if r.get("type") == "scene"}
            seqs = Counter(t["seq"] for t in turns)
            found.turns += len(turns)
            found.duplicate_seq += sum(n - 1 for n in seqs.values() if n > 1)
            found.detached_turns += sum(
                1 for t in turns if t["id"] not in sources.get(t["scene_id"] or "", set())
            )
            found.contents.update(t["content"] for t in turns)
    return found


def sqlite_integrity_ok(path: str) -> bool:
    import sqlite3

    with sqlite3.connect(path) as conn:
        result: str = conn.execute("PRAGMA integrity_check").fetchone()[0]
    return result == "ok"
