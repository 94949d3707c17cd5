"""Records as JSON-ready dicts: the export format, shared by every store backend.

A store converts domain records to these dicts on the way in and back on the way out, so the
export format, the row layout and the domain objects cannot drift apart. Every dict carries a
``type`` key; none carries ``user_id`` (an export is imported into whichever user the caller
names). Timestamps are ISO 8601 strings that keep the caller's UTC offset; vectors are base64
of little-endian float32.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np

from tmem import timestamps
from tmem.errors import InputError
from tmem.models import (
    KINDS,
    PERSONA_SECTIONS,
    HistoryEntry,
    HistoryEvent,
    Item,
    PersonaEntry,
    PersonaOrigin,
    PersonaProfile,
    PersonaSection,
    Provenance,
    Record,
    Scene,
    Status,
    Trigger,
    Turn,
)
from tmem.persona.entries import legacy_entry_id
from tmem.persona.merge import entries
from tmem.store.base import Vector, VectorRow

EXPORT_FORMAT = "tmem-export"
EXPORT_VERSION = 1
RECORD_TYPES: tuple[str, ...] = (
    "turn",
    "scene",
    "item",
    "trigger",
    "vector",
    "persona_entry",
    "instructions",
    "history",
)
"""Record types in export order: a later type may refer to an earlier one, never the reverse."""
LEGACY_TYPES: tuple[str, ...] = ("persona",)
"""Record types older exports hold and imports still read: ``persona`` (a whole profile, before
entries had ids) becomes ``persona_entry`` records (:func:`legacy_persona_entries`)."""

Row = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- time and vectors -------------------------------------------------------------------------
aware = timestamps.aware
"""``moment`` with a zone: naive values are taken as UTC, as :mod:`tmem.models` promises."""


def encode_time(moment: datetime) -> str:
    return aware(moment).isoformat()


def decode_time(text: str) -> datetime:
    """A stored time, read defensively: never raises (see :func:`tmem.timestamps.decode`)."""
    return timestamps.decode(text)


def readable_time(text: str) -> str:
    """A stored time as it should be exported: unchanged if it is in range, else clamped.

    An export therefore always imports, even when a row was stored before the range check.
    """
    try:
        if timestamps.in_range(datetime.fromisoformat(text)):
            return text
    except (TypeError, ValueError):
        pass
    return encode_time(timestamps.decode(text))


def time_key(moment: datetime) -> int:
    """Microseconds since the epoch: a sort key that ignores the offset a time was written in."""
    delta = aware(moment) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def vector_bytes(vector: Vector) -> bytes:
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def vector_from_bytes(blob: bytes) -> Vector:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


# --- provenance ---------------------------------------------------------------------------------
def _provenance(data: Mapping[str, Any]) -> Provenance:
    raw = data.get("provenance") or {}
    return Provenance(method=str(raw.get("method", "heuristic")), model=str(raw.get("model", "")))


def _provenance_dict(provenance: Provenance) -> dict[str, str]:
    return {"method": provenance.method, "model": provenance.model}


# --- turns, scenes, items -------------------------------------------------------------------------
def turn_to_dict(turn: Turn, *, scene_id: str | None = None, pending: bool = False) -> Row:
    return {
        "type": "turn",
        "id": turn.id,
        "session_id": turn.session_id,
        "seq": turn.seq,
        "speaker": turn.speaker,
        "content": turn.content,
        "timestamp": encode_time(turn.timestamp),
        "scene_id": scene_id,
        "pending": pending,
    }


def turn_from_dict(user_id: str, data: Mapping[str, Any]) -> Turn:
    return Turn(
        id=data["id"],
        user_id=user_id,
        session_id=data["session_id"],
        seq=int(data["seq"]),
        speaker=data["speaker"],
        content=data["content"],
        timestamp=decode_time(data["timestamp"]),
    )


def scene_to_dict(scene: Scene, *, version: int = 1) -> Row:
    return {
        "type": "scene",
        "id": scene.id,
        "title": scene.title,
        "summary": scene.summary,
        "narrative": scene.narrative,
        "timestamp": encode_time(scene.timestamp),
        "source_turns": list(scene.source_turns),
        "session_ids": list(scene.session_ids),
        "participants": list(scene.participants),
        "provenance": _provenance_dict(scene.provenance),
        "version": version,
    }


def scene_from_dict(user_id: str, data: Mapping[str, Any]) -> Scene:
    return Scene(
        id=data["id"],
        user_id=user_id,
        title=data["title"],
        summary=data["summary"],
        narrative=data["narrative"],
        timestamp=decode_time(data["timestamp"]),
        source_turns=tuple(data["source_turns"]),
        session_ids=tuple(data["session_ids"]),
        participants=tuple(data["participants"]),
        provenance=_provenance(data),
    )


def item_to_dict(item: Item, *, version: int = 1) -> Row:
    return {
        "type": "item",
        "id": item.id,
        "content": item.content,
        "timestamp": encode_time(item.timestamp),
        "scene_ids": list(item.scene_ids),
        "source_turns": list(item.source_turns),
        "temporal": item.temporal,
        "spatial": item.spatial,
        "keywords": list(item.keywords),
        "query_patterns": list(item.query_patterns),
        "status": item.status,
        "superseded_by": item.superseded_by,
        "provenance": _provenance_dict(item.provenance),
        "version": version,
    }


def item_from_dict(user_id: str, data: Mapping[str, Any]) -> Item:
    return Item(
        id=data["id"],
        user_id=user_id,
        content=data["content"],
        timestamp=decode_time(data["timestamp"]),
        scene_ids=tuple(data["scene_ids"]),
        source_turns=tuple(data["source_turns"]),
        temporal=data["temporal"],
        spatial=data["spatial"],
        keywords=tuple(data["keywords"]),
        query_patterns=tuple(data["query_patterns"]),
        status=cast(Status, data["status"]),
        superseded_by=data["superseded_by"],
        provenance=_provenance(data),
    )


def memory_from_dict(user_id: str, data: Mapping[str, Any]) -> Record:
    """A turn, scene or item from its dict, chosen by ``data["type"]``.

    Raises:
        InputError: the dict is not a turn, scene or item.
    """
    kind = data.get("type")
    if kind == "turn":
        return turn_from_dict(user_id, data)
    if kind == "scene":
        return scene_from_dict(user_id, data)
    if kind == "item":
        return item_from_dict(user_id, data)
    raise InputError(f"not a memory record: type {kind!r}")


# --- triggers, vectors, persona entries, instructions, history ----------------------------------
def trigger_to_dict(trigger: Trigger) -> Row:
    return {
        "type": "trigger",
        "id": trigger.id,
        "family": trigger.family,
        "text": trigger.text,
        "facet": trigger.facet,
        "targets": [[memory_id, float(confidence)] for memory_id, confidence in trigger.targets],
        "provenance": _provenance_dict(trigger.provenance),
    }


def trigger_from_dict(user_id: str, data: Mapping[str, Any]) -> Trigger:
    return Trigger(
        id=data["id"],
        user_id=user_id,
        family=data["family"],
        text=data["text"],
        targets=tuple((str(target), float(conf)) for target, conf in data["targets"]),
        facet=data["facet"],
        provenance=_provenance(data),
    )


def vector_to_dict(row: VectorRow) -> Row:
    blob = vector_bytes(row.vector)
    return {
        "type": "vector",
        "space": row.space,
        "owner_id": row.owner_id,
        "dim": len(blob) // 4,
        "vector": base64.b64encode(blob).decode("ascii"),
    }


def vector_from_dict(data: Mapping[str, Any]) -> VectorRow:
    vector = vector_from_bytes(base64.b64decode(data["vector"], validate=True))
    return VectorRow(owner_id=data["owner_id"], space=data["space"], vector=vector)


def persona_to_dict(persona: PersonaProfile) -> Row:
    """A whole profile as 0.3 and earlier exported it (``persona``; see :data:`LEGACY_TYPES`)."""
    return {
        "type": "persona",
        "speaker": persona.speaker,
        "identity": [list(pair) for pair in persona.identity],
        "preferences": [[key, list(values)] for key, values in persona.preferences],
        "traits": [[key, list(values)] for key, values in persona.traits],
        "relations": [list(pair) for pair in persona.relations],
        "updated_at": encode_time(persona.updated_at) if persona.updated_at else None,
        "sources": [[s, k, v, list(turns)] for s, k, v, turns in persona.sources],
    }


def persona_from_dict(user_id: str, data: Mapping[str, Any]) -> PersonaProfile:
    updated_at = data.get("updated_at")
    return PersonaProfile(
        user_id=user_id,
        speaker=data["speaker"],
        identity=tuple((str(k), str(v)) for k, v in data["identity"]),
        preferences=tuple((str(k), tuple(vs)) for k, vs in data["preferences"]),
        traits=tuple((str(k), tuple(vs)) for k, vs in data["traits"]),
        relations=tuple((str(k), str(v)) for k, v in data["relations"]),
        updated_at=decode_time(updated_at) if updated_at else None,
        sources=tuple(
            (str(s), str(k), str(v), tuple(str(t) for t in turns))
            for s, k, v, turns in data.get("sources") or ()
        ),
    )


def persona_entry_to_dict(entry: PersonaEntry) -> Row:
    return {
        "type": "persona_entry",
        "id": entry.id,
        "speaker": entry.speaker,
        "section": entry.section,
        "key": entry.key,
        "value": entry.value,
        "source_turns": list(entry.source_turns),
        "pinned": entry.pinned,
        "origin": entry.origin,
        "created_at": encode_time(entry.created_at),
        "updated_at": encode_time(entry.updated_at),
        "position": entry.position,
    }


def persona_entry_from_dict(user_id: str, data: Mapping[str, Any]) -> PersonaEntry:
    """A persona entry from its record.

    Raises:
        InputError: an unknown section or origin.
    """
    section, origin = data["section"], data["origin"]
    if section not in PERSONA_SECTIONS:
        raise InputError(f"persona entry {data.get('id')!r}: unknown section {section!r}")
    if origin not in ("model", "hand"):
        raise InputError(f"persona entry {data.get('id')!r}: unknown origin {origin!r}")
    return PersonaEntry(
        id=str(data["id"]),
        user_id=user_id,
        speaker=str(data["speaker"]),
        section=cast(PersonaSection, section),
        key=str(data["key"]),
        value=str(data["value"]),
        source_turns=tuple(str(t) for t in data["source_turns"]),
        pinned=bool(data["pinned"]),
        origin=cast(PersonaOrigin, origin),
        created_at=decode_time(data["created_at"]),
        updated_at=decode_time(data["updated_at"]),
        position=int(data["position"]),
    )


def legacy_persona_entries(row: Mapping[str, Any], at: datetime) -> list[Row]:
    """The ``persona_entry`` records of an older export's ``persona`` record (a profile).

    Entries are model-written and unpinned, with deterministic ids
    (:func:`tmem.persona.entries.legacy_entry_id`) and the profile's time (``at`` if it has
    none), in profile order; the stores' migrations convert stored profiles the same way.
    """
    profile = persona_from_dict("", row)
    when = encode_time(profile.updated_at or at)
    sources = {(s, k, v): turns for s, k, v, turns in profile.sources}
    return [
        {
            "type": "persona_entry",
            "id": legacy_entry_id(profile.speaker, section, key, value),
            "speaker": profile.speaker,
            "section": section,
            "key": key,
            "value": value,
            "source_turns": list(sources.get((section, key, value), ())),
            "pinned": False,
            "origin": "model",
            "created_at": when,
            "updated_at": when,
            "position": position,
        }
        for position, (section, key, value) in enumerate(entries(profile))
    ]


def instructions_to_dict(text: str, updated_at: datetime) -> Row:
    return {"type": "instructions", "text": text, "updated_at": encode_time(updated_at)}


def history_to_dict(entry: HistoryEntry) -> Row:
    return {
        "type": "history",
        "memory_id": entry.memory_id,
        "version": entry.version,
        "event": entry.event,
        "text": entry.text,
        "at": encode_time(entry.at),
        "detail": entry.detail,
    }


def history_from_dict(data: Mapping[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        memory_id=data["memory_id"],
        version=int(data["version"]),
        event=cast(HistoryEvent, data["event"]),
        text=data["text"],
        at=decode_time(data["at"]),
        detail=data["detail"],
    )


# --- the export header --------------------------------------------------------------------------
def export_header(embedder: tuple[str, int] | None, at: datetime) -> Row:
    """The first record of every export: format, version, the embedder and when it was taken."""
    return {
        "type": "header",
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "embedder": {"name": embedder[0], "dim": embedder[1]} if embedder else None,
        "exported_at": encode_time(at),
    }


def header_embedder(header: Mapping[str, Any]) -> tuple[str, int] | None:
    """Check an export header and return the embedder it names.

    Raises:
        InputError: the records are not a tmem export this version can read.
    """
    if header.get("format") != EXPORT_FORMAT or header.get("version") != EXPORT_VERSION:
        raise InputError(
            f"not a {EXPORT_FORMAT} version {EXPORT_VERSION} header: "
            f"format={header.get('format')!r} version={header.get('version')!r}"
        )
    embedder = header.get("embedder")
    if not embedder:
        return None
    return str(embedder["name"]), int(embedder["dim"])


def split_export(records: list[Row]) -> tuple[tuple[str, int] | None, list[Row]]:
    """Separate an export's header (optional) from its rows and check every row's type.

    Raises:
        InputError: a record has an unknown type or a header appears after the first record.
    """
    embedder = None
    rows = records
    if records and records[0].get("type") == "header":
        embedder = header_embedder(records[0])
        rows = records[1:]
    for row in rows:
        if row.get("type") not in RECORD_TYPES and row.get("type") not in LEGACY_TYPES:
            raise InputError(f"unknown export record type {row.get('type')!r}")
    return embedder, [_with_checked_times(row) for row in rows]


TIME_FIELDS: dict[str, tuple[str, ...]] = {
    "turn": ("timestamp",),
    "scene": ("timestamp",),
    "item": ("timestamp",),
    "persona": ("updated_at",),
    "persona_entry": ("created_at", "updated_at"),
    "instructions": ("updated_at",),
    "history": ("at",),
}
"""The time fields of each record type, checked on import like a message's timestamp."""


def _with_checked_times(row: Row) -> Row:
    """``row`` with its times in canonical form, refused if a message could not carry them.

    Every store thereby accepts the same range on import as on ``add``.

    Raises:
        InputError: a time is not an ISO 8601 string or lies outside the accepted range.
    """
    checked = dict(row)
    for name in TIME_FIELDS.get(row["type"], ()):
        value = row.get(name)
        if value is None:  # a missing time is the store's "malformed record" error
            continue
        which = f"{row['type']} record {row.get('id', row.get('memory_id'))!r}"
        if not isinstance(value, str):
            raise InputError(f"{which}: {name} must be a string")
        try:
            checked[name] = encode_time(timestamps.parse(value))
        except InputError as error:
            raise InputError(f"{which}: {error}") from None
    return checked


def in_time_order(records: list[Record]) -> list[Record]:
    """Memories of mixed kinds in time order; turns of equal time keep their sequence order."""
    rank = {name: i for i, name in enumerate(KINDS)}
    return sorted(
        records,
        key=lambda r: (
            time_key(r.timestamp),
            rank[r.kind],
            r.seq if isinstance(r, Turn) else 0,
            r.id,
        ),
    )
