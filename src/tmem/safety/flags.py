"""Flags for what a write stores: turns by their own text, derived memories also by their sources.

Pure: the ingest pipeline hands in the records and what is known about their source turns, and
gets back the detector's :class:`~tmem.models.RiskFlag` entries to store with the batch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime

from tmem.models import (
    Item,
    Record,
    RiskAssessment,
    RiskFlag,
    RiskReason,
    Scene,
    Turn,
    evidence_text,
)
from tmem.safety.detect import DETECTOR_ID, assess

SOURCE_TURN = "source_turn"
"""Reason code of a derived memory resting on a flagged turn (span ``0, 0``)."""


def assess_record(
    record: Record, detect: Callable[[str], RiskAssessment] = assess
) -> RiskAssessment:
    """Assess the text an answering model sees for ``record`` (``Hit.text``).

    A turn is assessed on its content alone (a speaker called "system" is not a role marker);
    its spans are shifted to index into ``"speaker: content"``.
    """
    if isinstance(record, Turn):
        found = detect(record.content)
        shift = len(record.text) - len(record.content)
        return replace(
            found,
            reasons=tuple(
                RiskReason(r.code, r.start + shift, r.end + shift) for r in found.reasons
            ),
        )
    return detect(evidence_text(record))


def turn_flags(turns: Iterable[Turn], at: datetime) -> tuple[RiskFlag, ...]:
    """The detector's flags for the turns that carry a sign."""
    assessed = ((turn.id, assess_record(turn)) for turn in turns)
    return tuple(_flag(turn_id, found, at) for turn_id, found in assessed if found.flagged)


def derived_flags(
    memories: Iterable[Scene | Item], flagged_turns: frozenset[str], at: datetime
) -> tuple[RiskFlag, ...]:
    """Flags for scenes and items: their own text's signs, plus ``source_turn`` when any turn
    they rest on is in ``flagged_turns``."""
    flags = []
    for memory in memories:
        own = assess_record(memory)
        inherited = any(turn in flagged_turns for turn in memory.source_turns)
        reasons = own.reasons + ((RiskReason(SOURCE_TURN, 0, 0),) if inherited else ())
        if reasons:
            flags.append(_flag(memory.id, RiskAssessment(True, reasons), at))
    return tuple(flags)


def flagged_turn_ids(turns: Iterable[Turn], stored: Mapping[str, RiskFlag]) -> frozenset[str]:
    """Turns that count as flagged: by their stored entry (an operator's review wins), else by
    the detector (turns stored before flags existed have no entry)."""
    out = set()
    for turn in turns:
        entry = stored.get(turn.id)
        if entry.flagged if entry is not None else assess_record(turn).flagged:
            out.add(turn.id)
    return frozenset(out)


def _flag(memory_id: str, assessment: RiskAssessment, at: datetime) -> RiskFlag:
    return RiskFlag(memory_id, "flagged", assessment.reasons, at, source=DETECTOR_ID)
