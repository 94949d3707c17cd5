"""Merge persona deltas into profiles (T-Mem's merge rules).

Identity overwrites, but only for whitelisted keys; preferences append, dedupe and keep the last
five values per key; traits keep the last three; relations merge by person, newest description
winning. Profiles are immutable; every merge returns a new one. Stored entries, and what
protects an entry from these rules, are :mod:`tmem.persona.entries`'.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
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


Entry = tuple[str, str, str]
"""One persona entry: ``(section, key, value)``."""


def entries(profile: PersonaProfile) -> list[Entry]:
    """Every entry of ``profile``: an identity pair, one value of a list section, a relation."""
    found: list[Entry] = [("identity", k, v) for k, v in profile.identity]
    for name, section in (("preferences", profile.preferences), ("traits", profile.traits)):
        found.extend((name, key, value) for key, values in section for value in values)
    found.extend(("relations", person, text) for person, text in profile.relations)
    return found


def folded(entry: Entry) -> Entry:
    """``entry`` as merging compares it: key normalised, value stripped and lower-cased."""
    section, key, value = entry
    return section, normalize_key(key), value.strip().lower()


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


def _keep_last(values: Iterable[str], limit: int, kept: Collection[str] = ()) -> tuple[str, ...]:
    """Dedupe case-insensitively keeping each value's latest position, then the last ``limit``.

    Values in ``kept`` (lower-cased) are never dropped and do not count toward ``limit``.
    """
    latest: dict[str, str] = {}
    for value in values:
        text = value.strip()
        if text:
            latest.pop(text.lower(), None)
            latest[text.lower()] = text
    counted = [folded for folded in latest if folded not in kept][-limit:]
    keep = {*counted, *(folded for folded in latest if folded in kept)}
    return tuple(text for folded, text in latest.items() if folded in keep)


def _merge_section(
    old: Section, new: Section, limit: int, kept: Callable[[str], Collection[str]]
) -> Section:
    merged: dict[str, tuple[str, ...]] = {normalize_key(k): v for k, v in old}
    for key, values in new:
        norm = normalize_key(key)
        if norm:
            kept_values = _keep_last((*merged.get(norm, ()), *values), limit, kept(norm))
            if kept_values:
                merged[norm] = kept_values
    return tuple(merged.items())


def merge_delta(
    profile: PersonaProfile,
    delta: PersonaDelta,
    at: datetime | None = None,
    *,
    protected: Collection[Entry] = (),
) -> PersonaProfile:
    """``profile`` with ``delta`` applied; ``updated_at`` becomes ``at`` when given.

    ``protected`` entries (folded as by :func:`folded`) of the list sections are never
    evicted and do not count toward their key's limit. Identity keys and relations that must
    not change are the caller's to leave out of ``delta``.
    """
    guarded = {folded(entry) for entry in protected}

    def kept(section: str) -> Callable[[str], Collection[str]]:
        return lambda key: {v for s, k, v in guarded if s == section and k == key}

    return replace(
        profile,
        identity=_merge_identity(profile.identity, delta.identity),
        preferences=_merge_section(
            profile.preferences, delta.preferences, PREFERENCE_LIMIT, kept("preferences")
        ),
        traits=_merge_section(profile.traits, delta.traits, TRAIT_LIMIT, kept("traits")),
        relations=_merge_relations(profile.relations, delta.relations),
        updated_at=at or profile.updated_at,
    )
