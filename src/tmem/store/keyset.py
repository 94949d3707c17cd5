"""Keyset pagination, shared by both wings: what each listing walks, in which order, and the
walk itself.

A walk goes through *sections* in a fixed order, and through each section in the order of a
key that no write changes once the row exists:

============= =============================== ================================================
section       key                             why it never moves
============= =============================== ================================================
turn          ``(seq, id)``                   ``seq`` is given once, from the user's counter
scene         ``(ord, id)``                   ``ord`` is given once, from the store's counter
item          ``(ord, id)``                   (updates and re-derivations keep it)
trigger       ``(id,)``                       ids are never reused for another row
vector        ``(space, owner_id)``           a re-embedding replaces the row in place
persona_entry ``(speaker, position, id)``     the unpaged export's order (it can move: below)
instructions  ``(user_id,)``                  at most one row, the user's
history       ``(memory_id, version)``        versions are appended, never renumbered
version       ``(version,)``                  one memory's history
header        ``()``                          the export's first row
============= =============================== ================================================

Strings compare bytewise on both stores (Postgres ``COLLATE "C"``), and each section's query
is a range scan of an index on ``(user_id, key...)`` (``tests/store/test_pages_plan.py``
checks the plans), so a page costs the same at the start and at the end of a big user.

So a record stored before a walk began and still there when the walk reaches its place is
listed exactly once, whatever is added, updated or deleted meanwhile; a deleted one is not
listed; an updated one is listed once, as it is when its page is read. A record added during
the walk sorts after every record of its section stored before it (counters only grow), so it
is listed if the walk has not left its section yet, and otherwise not. A turn imported from an
export keeps the export's ``seq`` and may land behind the walk.

Persona entries are the exception: they are walked by speaker, then their place in the
speaker's persona, the order of the unpaged export and of ``Store.persona_entries``, and a
re-derivation or a deletion that renumbers a speaker's entries while a walk is inside them can
make the walk repeat or pass over one of that speaker's entries. A speaker holds a few dozen
entries at most, so they are rarely split across pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from tmem.models import KINDS, Kind
from tmem.paging import Chunk, Key, Operation, Position, Walk
from tmem.store.codec import RECORD_TYPES

T = TypeVar("T")

KEY_TYPES: dict[str, tuple[type, ...]] = {
    "header": (),
    "turn": (int, str),
    "scene": (int, str),
    "item": (int, str),
    "trigger": (str,),
    "vector": (str, str),
    "persona_entry": (str, int, str),
    "instructions": (str,),
    "history": (str, int),
    "version": (int,),
}
"""Each section's key columns' types (the wings' ``pages.py`` name the columns)."""

EXPORT_SECTIONS: tuple[str, ...] = ("header", *RECORD_TYPES)
"""An export's sections: the header row, then every record type in export order."""

HISTORY_SECTIONS: tuple[str, ...] = ("version",)

Fetch = Callable[[str, Key | None, int], Sequence[tuple[Key, T]]]
"""``fetch(section, after, limit)``: up to ``limit`` rows of ``section`` whose key is greater
than ``after`` (all of them for None), in key order, each with its key."""


def list_sections(kind: Kind | None) -> tuple[str, ...]:
    """What ``list`` walks: one kind, or turns, then scenes, then items."""
    return (kind,) if kind else KINDS


def list_walk(user_id: str, kind: Kind | None) -> Walk:
    return _walk("list", (user_id, kind or ""), list_sections(kind))


def history_walk(user_id: str, memory_id: str) -> Walk:
    return _walk("history", (user_id, memory_id), HISTORY_SECTIONS)


def export_walk(user_id: str) -> Walk:
    return _walk("export", (user_id,), EXPORT_SECTIONS)


def _walk(op: Operation, scope: tuple[str, ...], sections: Sequence[str]) -> Walk:
    return Walk(op, scope, {section: KEY_TYPES[section] for section in sections})


def page(sections: Sequence[str], fetch: Fetch[T], after: Position | None, limit: int) -> Chunk[T]:
    """Up to ``limit`` rows after ``after``, crossing into later sections as needed.

    One row more than asked for is read, so a page that ends exactly where the rows end says
    so (``after`` None) and the caller is never sent to fetch an empty page.
    """
    start = 0 if after is None else sections.index(after.section)
    key = None if after is None else after.key
    found: list[tuple[Position, T]] = []
    for section in sections[start:]:
        for row_key, row in fetch(section, key, limit + 1 - len(found)):
            found.append((Position(section, tuple(row_key)), row))
        if len(found) > limit:
            break
        key = None
    kept = found[:limit]
    more = len(found) > limit
    return Chunk(tuple(row for _, row in kept), kept[-1][0] if more else None)
