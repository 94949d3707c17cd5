"""Persona entries as stored, and the pure rules that change them: extraction, hand edits and
forgetting. Stores apply the outcome (:mod:`tmem.store.plan`); nothing here touches one.

**Extraction** (:func:`merge_entries`) applies T-Mem's merge rules (:mod:`.merge`) to a
speaker's entries. Entries that are pinned or were written by hand are *protected*: the model
never overwrites their identity key or relation, never evicts them from a preference or trait
list (nor do they count toward its limit), and never removes them. An entry the model states
again gains the turns it stated it in; an entry the rules drop (an identity value overwritten,
the oldest of too many values) is erased, like a deleted one.

**By hand** (:func:`apply_edit`) an entry is written in its slot (a speaker's identity key, a
relation's person, or one value of a preference or trait key) or edited by id; either way its
text becomes the editor's (origin ``hand``).

**Forgetting** (:func:`forget_entries`) follows the deletion policy
(:mod:`tmem.store.policy`): an entry the model wrote from a deleted turn is erased, pinned or
not (a pin guards against the model, not against the user's own deletion); one resting on a
turn that only went back to waiting is erased too unless pinned, since re-derivation states it
again. A hand-written entry stays: its text is not the model's. It drops the deleted turn, and
its history's model-written versions lose their text.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tmem.errors import InputError, NotFoundError
from tmem.models import (
    PERSONA_SECTIONS,
    PersonaEntry,
    PersonaProfile,
    PersonaSection,
)
from tmem.persona.merge import Entry, PersonaDelta, entries, folded, merge_delta, normalize_key

LIST_SECTIONS: frozenset[str] = frozenset({"preferences", "traits"})
"""Sections holding several values per key; in the others a key (or person) holds one."""


def new_entry_id() -> str:
    return f"per_{uuid.uuid4().hex[:16]}"


def legacy_entry_id(speaker: str, section: str, key: str, value: str) -> str:
    """The id of an entry of a profile stored before entries had ids (a migrated store, an
    older export): the same for the same entry everywhere, so importing it twice is a no-op.

    The SQL migrations compute the same digest (SHA-256 of the four fields joined by U+001F).
    """
    digest = hashlib.sha256("\x1f".join((speaker, section, key, value)).encode("utf-8"))
    return f"per_{digest.hexdigest()[:16]}"


def _entry(entry: PersonaEntry) -> Entry:
    return entry.section, entry.key, entry.value


def _speaker_key(speaker: str) -> str:
    return speaker.strip().lower()


def _ordered(found: Sequence[PersonaEntry]) -> list[PersonaEntry]:
    return sorted(found, key=lambda e: (e.position, e.id))


# --- reading ----------------------------------------------------------------------------------
def profile_of(user_id: str, speaker: str, found: Sequence[PersonaEntry]) -> PersonaProfile:
    """The profile one speaker's entries make: keys in order of first appearance, values in
    entry order, each entry's source turns in ``sources``."""
    ordered = _ordered(found)
    lists: dict[str, dict[str, list[str]]] = {name: {} for name in LIST_SECTIONS}
    for entry in ordered:
        if entry.section in LIST_SECTIONS:
            lists[entry.section].setdefault(entry.key, []).append(entry.value)
    return PersonaProfile(
        user_id=user_id,
        speaker=speaker,
        identity=tuple((e.key, e.value) for e in ordered if e.section == "identity"),
        preferences=tuple((k, tuple(v)) for k, v in lists["preferences"].items()),
        traits=tuple((k, tuple(v)) for k, v in lists["traits"].items()),
        relations=tuple((e.key, e.value) for e in ordered if e.section == "relations"),
        updated_at=max((e.updated_at for e in ordered), default=None),
        sources=tuple((*_entry(e), e.source_turns) for e in ordered if e.source_turns),
    )


def profiles(found: Sequence[PersonaEntry]) -> list[PersonaProfile]:
    """One profile per speaker, in order of each speaker's first entry in ``found``."""
    speakers: dict[str, list[PersonaEntry]] = {}
    for entry in found:
        speakers.setdefault(entry.speaker, []).append(entry)
    return [profile_of(group[0].user_id, speaker, group) for speaker, group in speakers.items()]


# --- extraction -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonaChange:
    """What a change does to the stored entries.

    Attributes:
        written: entries to store (new ones and changed ones), as they are now.
        created: the ids among ``written`` that are new (their history starts).
        erased: entries to erase (history keeps a tombstone).
        unsourced: hand-written entries that lost a deleted source turn: their history's
            model-written versions lose their text.
    """

    written: tuple[PersonaEntry, ...] = ()
    created: frozenset[str] = frozenset()
    erased: tuple[PersonaEntry, ...] = ()
    unsourced: tuple[PersonaEntry, ...] = ()


def _union(old: tuple[str, ...], new: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*old, *new)))


def _slot(section: str, key: str) -> tuple[str, str]:
    """Where a single-valued entry lives: an identity key, or a relation's person."""
    return section, key.strip().lower() if section == "relations" else normalize_key(key)


def _merge_speaker(
    mine: Sequence[PersonaEntry],
    delta: PersonaDelta,
    *,
    user_id: str,
    at: datetime,
    new_id: Callable[[], str],
) -> tuple[list[PersonaEntry], list[PersonaEntry]]:
    """One speaker's entries after ``delta``, and the entries the merge dropped."""
    ordered = _ordered(mine)
    speaker = ordered[0].speaker if ordered else delta.speaker.strip()
    protected = [e for e in ordered if e.protected]
    held = {_slot(e.section, e.key) for e in protected if e.section not in LIST_SECTIONS}
    allowed = replace(
        delta,
        identity=tuple(p for p in delta.identity if _slot("identity", p[0]) not in held),
        relations=tuple(p for p in delta.relations if _slot("relations", p[0]) not in held),
    )
    before = profile_of(user_id, speaker, ordered)
    after = merge_delta(before, allowed, protected=[_entry(e) for e in protected])
    stated = {folded(e) for e in entries(merge_delta(PersonaProfile(user_id, speaker), delta))}
    stored = {folded(_entry(e)): e for e in ordered}
    result: list[PersonaEntry] = []
    for position, (section, key, value) in enumerate(entries(after)):
        fold = folded((section, key, value))
        said = fold in stated and bool(delta.source_turns)
        old = stored.get(fold)
        if old is None:
            turns = delta.source_turns if said else ()
            result.append(
                PersonaEntry(new_id(), user_id, speaker, _section(section), key, value, turns,
                             False, "model", at, at, position)
            )  # fmt: skip
            continue
        turns = _union(old.source_turns, delta.source_turns) if said else old.source_turns
        moved = turns != old.source_turns
        result.append(
            replace(old, source_turns=turns, position=position,
                    updated_at=at if moved else old.updated_at)
        )  # fmt: skip
    kept = {e.id for e in result}
    # The rules above keep every protected entry; should one ever fall out, it stays anyway.
    result.extend(
        replace(e, position=len(result) + n)
        for n, e in enumerate(e for e in protected if e.id not in kept)
    )
    kept = {e.id for e in result}
    return result, [e for e in ordered if e.id not in kept]


def _section(name: str) -> PersonaSection:
    for section in PERSONA_SECTIONS:
        if section == name:
            return section
    raise InputError(f"section must be one of {list(PERSONA_SECTIONS)}, not {name!r}")


def merge_entries(
    found: Sequence[PersonaEntry],
    deltas: Sequence[PersonaDelta],
    *,
    user_id: str,
    at: datetime,
    new_id: Callable[[], str] = new_entry_id,
) -> PersonaChange:
    """Apply extraction ``deltas`` in order to the user's stored entries (``found``).

    Speakers match case-insensitively; a speaker without entries gets new ones. An entry
    created and dropped by the same call is never written.
    """
    current = list(found)
    original = {e.id: e for e in found}
    erased: dict[str, PersonaEntry] = {}
    for delta in deltas:
        speaker = _speaker_key(delta.speaker)
        if not speaker:
            continue
        mine = [e for e in current if _speaker_key(e.speaker) == speaker]
        merged, dropped = _merge_speaker(mine, delta, user_id=user_id, at=at, new_id=new_id)
        current = [e for e in current if _speaker_key(e.speaker) != speaker] + merged
        erased.update((e.id, e) for e in dropped if e.id in original)
    written = tuple(e for e in current if original.get(e.id) != e)
    return PersonaChange(
        written=written,
        created=frozenset(e.id for e in written if e.id not in original),
        erased=tuple(erased.values()),
    )


# --- forgetting -------------------------------------------------------------------------------
def forget_entries(
    found: Sequence[PersonaEntry],
    erased_turns: Collection[str],
    waiting_turns: Collection[str],
    at: datetime,
) -> PersonaChange:
    """What deleting ``erased_turns`` (and sending ``waiting_turns`` back to waiting) does to
    the stored entries (the module's rules)."""
    gone, waiting = set(erased_turns), set(waiting_turns)
    erased: list[PersonaEntry] = []
    written: list[PersonaEntry] = []
    for entry in found:
        turns = set(entry.source_turns)
        if entry.origin == "hand":
            if turns & gone:
                left = tuple(t for t in entry.source_turns if t not in gone)
                written.append(replace(entry, source_turns=left, updated_at=at))
        elif turns & gone or (turns & waiting and not entry.pinned):
            erased.append(entry)
    return PersonaChange(written=tuple(written), erased=tuple(erased), unsourced=tuple(written))


# --- by hand ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonaEdit:
    """A change made by hand: the entry ``id``, or the slot (``speaker``, ``section``,
    ``key``) for a new entry or the one already there; a new ``value`` and/or a pin.

    ``None`` leaves a field as it is.
    """

    id: str | None = None
    speaker: str | None = None
    section: str | None = None
    key: str | None = None
    value: str | None = None
    pinned: bool | None = None


@dataclass(frozen=True)
class EditOutcome:
    """An edit's entry before (None: it is new) and after."""

    before: PersonaEntry | None
    after: PersonaEntry


def _in_slot(entry: PersonaEntry, speaker: str, section: str, key: str, value: str) -> bool:
    if _speaker_key(entry.speaker) != _speaker_key(speaker) or entry.section != section:
        return False
    if section in LIST_SECTIONS:
        return folded(_entry(entry)) == folded((section, key, value))
    return _slot(section, entry.key) == _slot(section, key)


def apply_edit(
    found: Sequence[PersonaEntry],
    edit: PersonaEdit,
    *,
    user_id: str,
    at: datetime,
    new_id: Callable[[], str] = new_entry_id,
) -> EditOutcome:
    """The entry ``edit`` makes of the user's stored entries (``found``).

    A value written by hand makes the entry's text the editor's (origin ``hand``), even when
    it equals what the model wrote: the editor vouches for it.

    Raises:
        NotFoundError: ``edit.id`` names no entry of the user.
        InputError: neither an id nor a whole slot, both, a new entry without a value, or a
            value that another entry of the same preference or trait key already holds.
    """
    slot = (edit.speaker, edit.section, edit.key)
    if edit.id is not None:
        if any(part is not None for part in slot):
            raise InputError("give a persona entry's id, or its speaker, section and key: not both")
        target = next((e for e in found if e.id == edit.id), None)
        if target is None:
            raise NotFoundError(f"no persona entry {edit.id!r} for this user")
    else:
        speaker, section, key = slot
        if speaker is None or section is None or key is None:
            raise InputError("a persona entry needs an id, or a speaker, section and key")
        if edit.value is None:
            raise InputError("a new persona entry needs a value")
        target = next(
            (e for e in found if _in_slot(e, speaker, _section(section), key, edit.value)), None
        )
        if target is None:
            return EditOutcome(None, _new_entry(found, edit, user_id=user_id, at=at, id=new_id()))
    after = target
    if edit.value is not None:
        _refuse_twin(found, target, edit.value)
        after = replace(after, value=edit.value.strip(), origin="hand")
    if edit.pinned is not None:
        after = replace(after, pinned=edit.pinned)
    if after != target:
        after = replace(after, updated_at=at)
    return EditOutcome(target, after)


def _new_entry(
    found: Sequence[PersonaEntry], edit: PersonaEdit, *, user_id: str, at: datetime, id: str
) -> PersonaEntry:
    assert edit.speaker is not None and edit.section is not None and edit.key is not None
    assert edit.value is not None
    section = _section(edit.section)
    speaker = edit.speaker.strip()
    mine = [e for e in found if _speaker_key(e.speaker) == _speaker_key(speaker)]
    if mine:  # the speaker's name as first stored
        speaker = mine[0].speaker
    key = edit.key.strip() if section == "relations" else normalize_key(edit.key)
    if not key:
        raise InputError("a persona entry's key must not be blank")
    position = max((e.position for e in mine), default=-1) + 1
    return PersonaEntry(id, user_id, speaker, section, key, edit.value.strip(), (),
                        bool(edit.pinned), "hand", at, at, position)  # fmt: skip


def _refuse_twin(found: Sequence[PersonaEntry], target: PersonaEntry, value: str) -> None:
    if target.section not in LIST_SECTIONS:
        return
    fold = folded((target.section, target.key, value))
    for other in found:
        if (
            other.id != target.id
            and _speaker_key(other.speaker) == _speaker_key(target.speaker)
            and folded(_entry(other)) == fold
        ):
            raise InputError(
                f"{target.speaker}'s {target.section} {target.key!r} already holds that value"
                f" (entry {other.id})"
            )
