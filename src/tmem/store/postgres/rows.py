"""Domain records <-> Postgres rows: column lists, parameters and decoders.

Times are stored as ``timestamptz`` (the instant, so SQL can order and compare them) plus the
caller's UTC offset in seconds, so a record reads back in the zone it was written in, as the
SQLite store and the export format keep it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import numpy as np

from tmem.models import (
    Family,
    HistoryEntry,
    HistoryEvent,
    Item,
    PersonaEntry,
    PersonaOrigin,
    PersonaSection,
    Provenance,
    Scene,
    Status,
    Trigger,
    Turn,
)
from tmem.store.base import Vector
from tmem.store.codec import aware
from tmem.store.fts import index_text

Row = tuple[Any, ...]


def split_time(moment: datetime) -> tuple[datetime, int]:
    moment = aware(moment)
    offset = moment.utcoffset() or timedelta(0)
    return moment, int(offset.total_seconds())


def join_time(instant: datetime, offset: int) -> datetime:
    """The stored instant in its writer's offset; in UTC if that would leave years 1..9999."""
    try:
        return instant.astimezone(timezone(timedelta(seconds=offset)))
    except (OverflowError, ValueError):
        return instant


# --- turns --------------------------------------------------------------------------------------
TURN_COLUMNS = "id, user_id, session_id, seq, speaker, content, ts, ts_offset"


def turn_params(turn: Turn, user_id: str) -> dict[str, Any]:
    ts, offset = split_time(turn.timestamp)
    return {
        "user_id": user_id,
        "id": turn.id,
        "session_id": turn.session_id,
        "seq": turn.seq,
        "speaker": turn.speaker,
        "content": turn.content,
        "ts": ts,
        "ts_offset": offset,
    }


def turn_from_row(row: Row) -> Turn:
    return Turn(
        id=row[0],
        user_id=row[1],
        session_id=row[2],
        seq=int(row[3]),
        speaker=row[4],
        content=row[5],
        timestamp=join_time(row[6], row[7]),
    )


# --- scenes -------------------------------------------------------------------------------------
SCENE_COLUMNS = (
    "id, user_id, title, summary, narrative, ts, ts_offset, source_turns, session_ids, "
    "participants, method, model"
)


def scene_params(scene: Scene, user_id: str) -> dict[str, Any]:
    ts, offset = split_time(scene.timestamp)
    return {
        "user_id": user_id,
        "id": scene.id,
        "title": scene.title,
        "summary": scene.summary,
        "narrative": scene.narrative,
        "ts": ts,
        "ts_offset": offset,
        "source_turns": list(scene.source_turns),
        "session_ids": list(scene.session_ids),
        "participants": list(scene.participants),
        "method": scene.provenance.method,
        "model": scene.provenance.model,
    }


def scene_from_row(row: Row) -> Scene:
    return Scene(
        id=row[0],
        user_id=row[1],
        title=row[2],
        summary=row[3],
        narrative=row[4],
        timestamp=join_time(row[5], row[6]),
        source_turns=tuple(row[7]),
        session_ids=tuple(row[8]),
        participants=tuple(row[9]),
        provenance=Provenance(method=row[10], model=row[11]),
    )


# --- items --------------------------------------------------------------------------------------
ITEM_COLUMNS = (
    "id, user_id, content, ts, ts_offset, scene_ids, source_turns, temporal, spatial, keywords, "
    "query_patterns, status, superseded_by, method, model"
)


def item_params(item: Item, user_id: str) -> dict[str, Any]:
    ts, offset = split_time(item.timestamp)
    return {
        "user_id": user_id,
        "id": item.id,
        "content": item.content,
        "ts": ts,
        "ts_offset": offset,
        "scene_ids": list(item.scene_ids),
        "source_turns": list(item.source_turns),
        "temporal": item.temporal,
        "spatial": item.spatial,
        "keywords": list(item.keywords),
        "query_patterns": list(item.query_patterns),
        "status": item.status,
        "superseded_by": item.superseded_by,
        "method": item.provenance.method,
        "model": item.provenance.model,
        "search_text": index_text(item),
    }


def item_from_row(row: Row) -> Item:
    return Item(
        id=row[0],
        user_id=row[1],
        content=row[2],
        timestamp=join_time(row[3], row[4]),
        scene_ids=tuple(row[5]),
        source_turns=tuple(row[6]),
        temporal=row[7],
        spatial=row[8],
        keywords=tuple(row[9]),
        query_patterns=tuple(row[10]),
        status=cast(Status, row[11]),
        superseded_by=row[12],
        provenance=Provenance(method=row[13], model=row[14]),
    )


# --- triggers and history -----------------------------------------------------------------------
TRIGGER_COLUMNS = "id, user_id, family, text, facet, method, model"


def trigger_from_row(row: Row, targets: Sequence[tuple[str, float]]) -> Trigger:
    return Trigger(
        id=row[0],
        user_id=row[1],
        family=cast(Family, row[2]),
        text=row[3],
        targets=tuple(targets),
        facet=row[4],
        provenance=Provenance(method=row[5], model=row[6]),
    )


HISTORY_COLUMNS = "memory_id, version, event, text, at, at_offset, detail"


def history_from_row(row: Row) -> HistoryEntry:
    return HistoryEntry(
        memory_id=row[0],
        version=int(row[1]),
        event=cast(HistoryEvent, row[2]),
        text=row[3],
        at=join_time(row[4], row[5]),
        detail=row[6],
    )


# --- persona entries ----------------------------------------------------------------------------
PERSONA_COLUMNS = (
    "id, user_id, speaker, section, key, value, source_turns, pinned, origin, created_at, "
    "created_at_offset, updated_at, updated_at_offset, position"
)


def persona_params(entry: PersonaEntry, user_id: str) -> dict[str, Any]:
    created, created_offset = split_time(entry.created_at)
    updated, updated_offset = split_time(entry.updated_at)
    return {
        "user_id": user_id,
        "id": entry.id,
        "speaker": entry.speaker,
        "section": entry.section,
        "key": entry.key,
        "value": entry.value,
        "source_turns": list(entry.source_turns),
        "pinned": entry.pinned,
        "origin": entry.origin,
        "created_at": created,
        "created_at_offset": created_offset,
        "updated_at": updated,
        "updated_at_offset": updated_offset,
        "position": entry.position,
    }


def persona_from_row(row: Row) -> PersonaEntry:
    return PersonaEntry(
        id=row[0],
        user_id=row[1],
        speaker=row[2],
        section=cast(PersonaSection, row[3]),
        key=row[4],
        value=row[5],
        source_turns=tuple(row[6]),
        pinned=bool(row[7]),
        origin=cast(PersonaOrigin, row[8]),
        created_at=join_time(row[9], row[10]),
        updated_at=join_time(row[11], row[12]),
        position=int(row[13]),
    )


# --- vectors ------------------------------------------------------------------------------------
def vector_literal(vector: Vector) -> str:
    """pgvector's text form; ``repr`` of a float32 widened to float64 reads back exactly."""
    return "[" + ",".join(repr(float(x)) for x in np.asarray(vector, dtype=np.float32)) + "]"


def vector_from_text(text: str) -> Vector:
    return np.array([float(x) for x in text.strip("[]").split(",") if x], dtype=np.float32)
