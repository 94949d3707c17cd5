"""Integrity of one user's turns and scenes, read from an export (any store, any mode)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Integrity:
    """What a checker found; every count but ``turns`` should be 0."""

    turns: int
    duplicate_seq: int
    """Turns sharing a ``seq`` with an earlier one."""
    detached: int
    """Turns linked to a missing scene or to a scene not listing them, or to no scene though
    not waiting for derivation."""
    waiting: int
    """Pending turns in no scene yet (their derivation failed or gave way to another writer;
    ``reindex`` places them)."""
    stray_sources: int
    """Entries of a scene's ``source_turns`` whose turn is missing or linked elsewhere."""

    @property
    def ok(self) -> bool:
        return self.duplicate_seq == self.detached == self.stray_sources == 0


def check(records: Iterable[dict[str, Any]]) -> Integrity:
    rows = list(records)
    turns = {r["id"]: r for r in rows if r["type"] == "turn"}
    scenes = {r["id"]: set(r["source_turns"]) for r in rows if r["type"] == "scene"}
    seqs = Counter(r["seq"] for r in turns.values())
    waiting = sum(1 for r in turns.values() if r["scene_id"] is None and r["pending"])
    detached = sum(
        1
        for turn_id, r in turns.items()
        if not (r["scene_id"] is None and r["pending"])
        and turn_id not in scenes.get(r["scene_id"], set())
    )
    stray = sum(
        1
        for scene_id, members in scenes.items()
        for turn_id in members
        if turn_id not in turns or turns[turn_id]["scene_id"] != scene_id
    )
    return Integrity(
        turns=len(turns),
        duplicate_seq=sum(n - 1 for n in seqs.values()),
        detached=detached,
        waiting=waiting,
        stray_sources=stray,
    )
