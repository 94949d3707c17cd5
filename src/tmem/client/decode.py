"""The service's JSON back into tmem's frozen dataclasses (:class:`~tmem.models.Hit`,
:class:`~tmem.models.IngestReport`, ...), and :class:`JobInfo` for background jobs.

Pure functions of the decoded JSON: both clients read every answer through them.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal, TypeVar

from tmem.errors import InputError
from tmem.models import (
    Answer,
    ChannelEvidence,
    Failure,
    HistoryEntry,
    Hit,
    IngestReport,
    Item,
    Page,
    PersonaEntry,
    Provenance,
    Record,
    RiskAssessment,
    RiskReason,
    Scene,
    TriggerMatch,
    Turn,
    Usage,
)

T = TypeVar("T")


@dataclass(frozen=True)
class JobInfo:
    """A background job as the service reports it; ``result`` is set once it is ``done``."""

    id: str
    kind: str
    status: Literal["queued", "running", "done", "failed"]
    attempts: int
    created_at: datetime
    updated_at: datetime
    run_at: datetime
    result: IngestReport | None = None
    error: str = ""


def _build(cls: type[Any], data: Mapping[str, Any], **overrides: Any) -> Any:
    """``cls`` from the JSON fields it declares (lists become tuples), plus ``overrides``."""
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if not f.init:
            continue
        if f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif f.name in data:
            value = data[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, builtins.list) else value
    return cls(**kwargs)


def hit_from(data: Mapping[str, Any]) -> Hit:
    explain = tuple(evidence_from(e) for e in data.get("explain") or ())
    hit: Hit = _build(Hit, data, risk=risk_from(data.get("risk") or {}), explain=explain)
    return hit


def evidence_from(data: Mapping[str, Any]) -> ChannelEvidence:
    """One channel's evidence for a hit (a service before explanations sends none)."""
    triggers = tuple(_build(TriggerMatch, t) for t in data.get("triggers") or ())
    evidence: ChannelEvidence = _build(ChannelEvidence, data, triggers=triggers)
    return evidence


def risk_from(data: Mapping[str, Any]) -> RiskAssessment:
    reasons = tuple(_build(RiskReason, r) for r in data.get("reasons", ()))
    return RiskAssessment(flagged=bool(data.get("flagged", False)), reasons=reasons)


def usage_from(data: Mapping[str, Any]) -> Usage:
    usage: Usage = _build(Usage, data)
    return usage


def report_from(data: Mapping[str, Any]) -> IngestReport:
    failures = tuple(
        _build(Failure, f, turn_ids=tuple(f.get("turn_ids", ()))) for f in data.get("failures", ())
    )
    report: IngestReport = _build(
        IngestReport,
        data,
        triggers=dict(data.get("triggers", {})),
        usage=usage_from(data.get("usage", {})),
        failures=failures,
    )
    return report


def answer_from(data: Mapping[str, Any]) -> Answer:
    hits = tuple(hit_from(h) for h in data.get("hits", ()))
    excluded = tuple(hit_from(h) for h in data.get("excluded", ()))
    usage = usage_from(data.get("usage", {}))
    return Answer(text=data["text"], hits=hits, usage=usage, excluded=excluded)


def record_from(data: Mapping[str, Any]) -> Record:
    """A :class:`Turn`, :class:`Scene` or :class:`Item` from its JSON (by ``kind``)."""
    kind = data.get("kind")
    when = datetime.fromisoformat(data["timestamp"])
    if kind == "turn":
        turn: Turn = _build(Turn, data, timestamp=when)
        return turn
    provenance = _build(Provenance, data.get("provenance") or {"method": "heuristic"})
    if kind == "scene":
        scene: Scene = _build(Scene, data, timestamp=when, provenance=provenance)
        return scene
    if kind == "item":
        item: Item = _build(Item, data, timestamp=when, provenance=provenance)
        return item
    raise InputError(f"unknown memory kind {kind!r} in the service's answer")


def history_from(data: Mapping[str, Any]) -> HistoryEntry:
    entry: HistoryEntry = _build(HistoryEntry, data, at=datetime.fromisoformat(data["at"]))
    return entry


def page_from(data: Mapping[str, Any], field: str, item_from: Callable[[Any], T]) -> Page[T]:
    """A :class:`Page` from a paged answer: its rows under ``field``, and ``next_cursor``."""
    cursor = data.get("next_cursor")
    return Page(
        tuple(item_from(row) for row in data[field]), None if cursor is None else str(cursor)
    )


def persona_entry_from(data: Mapping[str, Any]) -> PersonaEntry:
    entry: PersonaEntry = _build(
        PersonaEntry,
        data,
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
    )
    return entry


def job_from(data: Mapping[str, Any]) -> JobInfo:
    result = data.get("result")
    info: JobInfo = _build(
        JobInfo,
        data,
        created_at=datetime.fromisoformat(data["created_at"]),
        updated_at=datetime.fromisoformat(data["updated_at"]),
        run_at=datetime.fromisoformat(data["run_at"]),
        result=report_from(result) if result else None,
    )
    return info
