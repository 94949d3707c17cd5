"""Builders and hypothesis strategies for store tests (no store in here)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
from hypothesis import strategies as st

from tmem.models import Item, Provenance, Scene, Trigger, Turn
from tmem.persona import PersonaDelta
from tmem.store.base import Vector, VectorRow, WriteBatch

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
DIM = 8
_ids = itertools.count()


def fresh_id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def unit(*values: float, dim: int = DIM) -> Vector:
    """A unit vector whose first components are ``values`` (the rest zero)."""
    vector = np.zeros(dim, dtype=np.float32)
    vector[: len(values)] = values
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def turn(user: str, seq: int, content: str, *, speaker: str = "alice", tid: str = "") -> Turn:
    return Turn(tid or f"{user}-t{seq}", user, "s1", seq, speaker, content, at(seq))


def scene(user: str, sid: str, turns: tuple[str, ...], narrative: str, *, minute: int = 0) -> Scene:
    return Scene(sid, user, f"title {sid}", f"summary {sid}", narrative, at(minute), turns, ("s1",))


def item(
    user: str,
    iid: str,
    content: str,
    *,
    scenes: tuple[str, ...] = (),
    turns: tuple[str, ...] = (),
    minute: int = 0,
    keywords: tuple[str, ...] = (),
) -> Item:
    return Item(iid, user, content, at(minute), scenes, turns, keywords=keywords)


def trigger(user: str, tid: str, text: str, *targets: str, family: str = "entity") -> Trigger:
    edges = tuple((target, 0.9) for target in targets)
    return Trigger(tid, user, family, text, edges)  # type: ignore[arg-type]


def batch(user: str, **parts: object) -> WriteBatch:
    return WriteBatch(user_id=user, at=parts.pop("when", T0), **parts)  # type: ignore[arg-type]


# --- hypothesis -------------------------------------------------------------------------------
# NUL is refused at the API edge (and Postgres text cannot hold it), so stores never see it.
texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)
ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
zones = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))])
moments = st.builds(
    lambda minutes, micros, zone: (T0 + timedelta(minutes=minutes, microseconds=micros)).astimezone(
        zone
    ),
    st.integers(0, 10_000),
    st.integers(0, 999_999),
    zones,
)
provenances = st.builds(Provenance, method=texts, model=texts)


def for_user(data: WriteBatch, user: str) -> WriteBatch:
    """``data`` moved to ``user``: hypothesis draws batches once, tests give each a fresh user."""
    return replace(
        data,
        user_id=user,
        turns=tuple(replace(t, user_id=user) for t in data.turns),
        scenes=tuple(replace(s, user_id=user) for s in data.scenes),
        items=tuple(replace(i, user_id=user) for i in data.items),
        triggers=tuple(replace(t, user_id=user) for t in data.triggers),
    )


@st.composite
def user_batches(draw: st.DrawFn, user: str = "drawn") -> WriteBatch:
    """A consistent batch: turns, scenes over them, items, triggers, vectors, persona deltas."""
    turn_ids = draw(st.lists(ids, min_size=1, max_size=5, unique=True))
    turns = tuple(
        Turn(f"t{tid}", user, draw(texts), seq, draw(texts), draw(texts), draw(moments))
        for seq, tid in enumerate(turn_ids)
    )
    tids = [t.id for t in turns]
    sources = st.lists(st.sampled_from(tids), max_size=3, unique=True).map(tuple)
    scenes = tuple(
        Scene(f"sc{i}", user, draw(texts), draw(texts), draw(texts), draw(moments),
              draw(sources), tuple(draw(st.lists(texts, max_size=2))),
              tuple(draw(st.lists(texts, max_size=2))), draw(provenances))
        for i in range(draw(st.integers(0, 2)))
    )  # fmt: skip
    scene_ids = st.lists(st.sampled_from([s.id for s in scenes] or ["none"]), max_size=2)
    items = tuple(
        Item(f"it{i}", user, draw(texts), draw(moments), tuple(draw(scene_ids)), draw(sources),
             draw(texts), draw(texts), tuple(draw(st.lists(texts, max_size=3))),
             tuple(draw(st.lists(texts, max_size=2))), provenance=draw(provenances))
        for i in range(draw(st.integers(0, 3)))
    )  # fmt: skip
    memories = [m.id for m in (*scenes, *items)] or tids
    confidence = st.floats(0, 1, allow_nan=False)
    triggers = tuple(
        Trigger(f"tr{i}", user, draw(st.sampled_from(["entity", "bridge", "scene", "horizon"])),
                draw(texts),
                tuple((m, draw(confidence)) for m in draw(st.lists(st.sampled_from(memories),
                                                                     min_size=1, max_size=2,
                                                                     unique=True))),
                draw(texts), draw(provenances))
        for i in range(draw(st.integers(0, 2)))
    )  # fmt: skip
    floats = st.floats(-1, 1, allow_nan=False, width=32)
    vectors = tuple(
        VectorRow(owner, space, np.array(draw(st.lists(floats, min_size=DIM, max_size=DIM)),
                                         dtype=np.float32))
        for owner, space in [(tids[0], "turn"), *((i.id, "item") for i in items)]
    )  # fmt: skip
    pairs = st.lists(st.tuples(texts, texts), max_size=2).map(tuple)
    multi = st.lists(st.tuples(texts, st.lists(texts, max_size=2).map(tuple)), max_size=2)
    identity = st.lists(st.tuples(st.sampled_from(["age", "occupation"]), texts), max_size=2)
    deltas = tuple(
        PersonaDelta(speaker, tuple(draw(identity)), tuple(draw(multi)), tuple(draw(multi)),
                     draw(pairs), tuple(draw(st.lists(st.sampled_from(tids), max_size=2))))
        for speaker in draw(st.lists(ids, max_size=2, unique=True))
    )  # fmt: skip
    return WriteBatch(
        user_id=user,
        at=draw(moments),
        turns=turns,
        scenes=scenes,
        items=items,
        triggers=triggers,
        vectors=vectors,
        persona_deltas=deltas,
        scene_of_turn=tuple((tids[0], s.id) for s in scenes[:1]),
        pending_turns=tuple(tids[-1:]) if draw(st.booleans()) else (),
    )
