"""Merge persona deltas into profiles (T-Mem's merge rules).

Identity overwrites, but only for whitelisted keys; preferences append, dedupe and keep the last
five values per key; traits keep the last three; relations merge by person, newest description
winning. Profiles are immutable; every merge returns a new one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tmem.models import PersonaProfile

IDENTITY_KEYS: frozenset[str] = frozenset(
    {
        "age",
        "gender",
        "origin",
        "current_location",
        "occupation",
        "relationship_status",
        "financial_status",
        "education",
        "family_role",
        "languages",
        "ethnicity",
    }
)
PREFERENCE_LIMIT = 5
TRAIT_LIMIT = 3

Section = tuple[tuple[str, tuple[str, ...]], ...]
Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class PersonaDelta:
    """What one extraction learned about one speaker."""

    speaker: str
    identity: Pairs = ()
    preferences: Section = ()
    traits: Section = ()
    relations: Pairs = ()
    source_turns: tuple[str, ...] = ()
    """The turns the extraction read (the entries it states rest on them)."""


def normalize_key(key: str) -> str:
    """``"Current Location"`` -> ``"current_location"``."""
    return "_".join(key.lower().replace("-", " ").split())


def _merge_identity(old: Pairs, new: Pairs) -> Pairs:
    """Overwrite whitelisted keys, keeping first-seen order; empty values are ignored."""
    merged = {normalize_key(k): v for k, v in old}
    for key, value in new:
        norm = normalize_key(key)
        if value.strip() and norm in IDENTITY_KEYS:
            merged[norm] = value.strip()
    return tuple(merged.items())


def _merge_relations(old: Pairs, new: Pairs) -> Pairs:
    """Merge by person name, case-insensitively; the newest description wins."""
    names: dict[str, str] = {}
    descriptions: dict[str, str] = {}
    for person, description in (*old, *new):
        key = person.strip().lower()
        if not key or not description.strip():
            continue
        names.setdefault(key, person.strip())
        descriptions[key] = description.strip()
    return tuple((names[key], descriptions[key]) for key in names)


def _keep_last(values: Iterable[str], limit: int) -> tuple[str, ...]:
    """Dedupe case-insensitively keeping each value's latest position, then the last ``limit``."""
    latest: dict[str, str] = {}
    for value in values:
        text = value.strip()
        if text:
            latest.pop(text.lower(), None)
            latest[text.lower()] = text
    return tuple(latest.values())[-limit:]


def _merge_section(old: Section, new: Section, limit: int) -> Section:
    merged: dict[str, tuple[str, ...]] = {normalize_key(k): v for k, v in old}
    for key, values in new:
        norm = normalize_key(key)
        if norm:
            kept = _keep_last((*merged.get(norm, ()), *values), limit)
            if kept:
                merged[norm] = kept
    return tuple(merged.items())


def merge_delta(
    profile: PersonaProfile, delta: PersonaDelta, at: datetime | None = None
) -> PersonaProfile:
    """``profile`` with ``delta`` applied; ``updated_at`` becomes ``at`` when given."""
    return replace(
        profile,
        identity=_merge_identity(profile.identity, delta.identity),
        preferences=_merge_section(profile.preferences, delta.preferences, PREFERENCE_LIMIT),
        traits=_merge_section(profile.traits, delta.traits, TRAIT_LIMIT),
        relations=_merge_relations(profile.relations, delta.relations),
        updated_at=at or profile.updated_at,
    )


def merge_deltas(
    profiles: Sequence[PersonaProfile],
    deltas: Sequence[PersonaDelta],
    *,
    user_id: str,
    at: datetime,
) -> list[PersonaProfile]:
    """Apply deltas in order, matching speakers case-insensitively; new speakers get profiles.

    Returns only the profiles that changed, in the order they were first touched.
    """
    current = {p.speaker.strip().lower(): p for p in profiles}
    touched: list[str] = []
    for delta in deltas:
        key = delta.speaker.strip().lower()
        if not key:
            continue
        base = current.get(key) or PersonaProfile(user_id=user_id, speaker=delta.speaker.strip())
        merged = with_sources(base, merge_delta(base, delta, at), delta)
        if _content(merged) != _content(base):
            current[key] = merged
            if key not in touched:
                touched.append(key)
    return [current[key] for key in touched]


def _content(profile: PersonaProfile) -> tuple[object, ...]:
    return (
        profile.identity,
        profile.preferences,
        profile.traits,
        profile.relations,
        profile.sources,
    )


Entry = tuple[str, str, str]
"""One persona entry: ``(section, key, value)``."""


def entries(profile: PersonaProfile) -> list[Entry]:
    """Every entry of ``profile``: an identity pair, one value of a list section, a relation."""
    found: list[Entry] = [("identity", k, v) for k, v in profile.identity]
    for name, section in (("preferences", profile.preferences), ("traits", profile.traits)):
        found.extend((name, key, value) for key, values in section for value in values)
    found.extend(("relations", person, text) for person, text in profile.relations)
    return found


def _folded(entry: Entry) -> Entry:
    section, key, value = entry
    return section, normalize_key(key), value.strip().lower()


def with_sources(
    before: PersonaProfile, after: PersonaProfile, delta: PersonaDelta
) -> PersonaProfile:
    """``after`` (``before`` merged with ``delta``) with each entry's source turns.

    Entries the delta states gain its turns; the others keep theirs; entries the merge
    dropped (limits, overwrites) lose theirs.
    """
    stated = {
        _folded(e)
        for e in entries(merge_delta(PersonaProfile(after.user_id, after.speaker), delta))
    }
    known = {(s, k, v): turns for s, k, v, turns in before.sources}
    sources = []
    for entry in entries(after):
        turns = known.get(entry, ())
        if _folded(entry) in stated and delta.source_turns:
            turns = tuple(dict.fromkeys((*turns, *delta.source_turns)))
        if turns:
            sources.append((*entry, turns))
    return replace(after, sources=tuple(sources))


def forget_turns(profile: PersonaProfile, gone: Collection[str]) -> PersonaProfile:
    """``profile`` without the entries resting on any turn in ``gone`` (never trimmed)."""
    doomed = {(s, k, v) for s, k, v, turns in profile.sources if set(turns) & set(gone)}
    if not doomed:
        return profile

    def keep(section: str, key: str, value: str) -> bool:
        return (section, key, value) not in doomed

    def section(name: str, values: Section) -> Section:
        kept = ((k, tuple(v for v in vs if keep(name, k, v))) for k, vs in values)
        return tuple((k, vs) for k, vs in kept if vs)

    return replace(
        profile,
        identity=tuple((k, v) for k, v in profile.identity if keep("identity", k, v)),
        preferences=section("preferences", profile.preferences),
        traits=section("traits", profile.traits),
        relations=tuple((k, v) for k, v in profile.relations if keep("relations", k, v)),
        sources=tuple(src for src in profile.sources if tuple(src[:3]) not in doomed),
    )


def is_empty(profile: PersonaProfile) -> bool:
    """No entry left."""
    return not entries(profile)
