"""Keyset pages: where a walk stands (:class:`Position`), and the opaque cursor that carries it.

A listing (``list``, ``history``, ``export``) is walked in *sections* (turns, then scenes, ...),
each in the order of a key no write ever changes (see :mod:`tmem.store.keyset`). A page ends
after some row; the next one starts after that row's key, so a record stored before the walk
began is reached exactly once unless it is deleted first, however the rows around it change.

The cursor a caller holds is that position, bound to the listing it belongs to::

    base64url(JSON {"v": 1, "op": "list", "at": ["scene", [42, "scn_1f"]], "sig": "..."})

``sig`` is a digest of the version, the operation, the listing's scope (the user and its
filter: kind, or memory id) and the position. It is no secret (the key has no secret in it:
forging a cursor only moves a caller within a listing it may read anyway); it makes a cursor
of another user, another filter or another listing, and an edited one, fail with
:class:`~tmem.errors.InputError` instead of silently paging the wrong thing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from tmem.errors import InputError
from tmem.validate import MAX_CURSOR_CHARS

T = TypeVar("T")

Key = tuple[int | str, ...]
"""A row's key within its section: ints and strings, compared column by column."""

Operation = Literal["list", "history", "export"]

CURSOR_VERSION = 1
MAX_KEY_CHARS = 1000
"""Characters in one string of a cursor's key (ids have at most 200)."""
_INT64 = 2**63
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Position:
    """Just after the row with key ``key`` in section ``section`` of a walk."""

    section: str
    key: Key


@dataclass(frozen=True)
class Chunk(Generic[T]):
    """A store's answer to a page query: the rows, and the position after the last one when
    more may follow (None: the walk is over)."""

    items: tuple[T, ...]
    after: Position | None


@dataclass(frozen=True)
class Walk:
    """One listing a cursor can continue.

    Attributes:
        op: which listing (``list``, ``history`` or ``export``).
        scope: what the cursor is bound to: the store's user id and the listing's filter.
        sections: the sections in walk order, each with the types of its key's columns.
    """

    op: Operation
    scope: tuple[str, ...]
    sections: Mapping[str, tuple[type, ...]]


def cursor_for(walk: Walk, position: Position | None) -> str | None:
    """The opaque cursor for ``position`` in ``walk`` (None when the walk is over)."""
    if position is None:
        return None
    at = [position.section, list(position.key)]
    payload = {"v": CURSOR_VERSION, "op": walk.op, "at": at, "sig": _signature(walk, at)}
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode("utf-8")).decode("ascii").rstrip("=")


def position_of(walk: Walk, cursor: str | None) -> Position | None:
    """Where ``cursor`` says ``walk`` stands (None: no cursor, start at the beginning).

    Raises:
        InputError: the cursor is not one tmem made, was made by another version of the
            cursor format, continues another listing (another operation, user, kind or
            memory), or was altered.
    """
    if cursor is None:
        return None
    payload = _payload(cursor)
    if payload.get("v") != CURSOR_VERSION:
        raise InputError(
            f"cursor format {payload.get('v')!r} is not one this tmem reads; start the listing"
            " again without a cursor"
        )
    if payload.get("op") != walk.op:
        raise InputError(f"this cursor pages {payload.get('op')!r}, not {walk.op!r}")
    at = payload.get("at")
    if not (isinstance(at, list) and len(at) == 2 and isinstance(at[1], list)):
        raise _malformed()
    if payload.get("sig") != _signature(walk, at):
        raise InputError(
            "this cursor belongs to another listing (another user, kind or memory) or was"
            " altered; start the listing again without a cursor"
        )
    section, key = at
    types = walk.sections.get(section) if isinstance(section, str) else None
    if types is None or len(key) != len(types):
        raise _malformed()
    for value, kind in zip(key, types, strict=True):
        if not _is_valid(value, kind):
            raise _malformed()
    return Position(section, tuple(key))


def _payload(cursor: object) -> dict[str, Any]:
    """The cursor's JSON object, or :class:`InputError` when it is not one tmem wrote."""
    if not isinstance(cursor, str) or not 0 < len(cursor) <= MAX_CURSOR_CHARS:
        raise _not_a_cursor()
    if not _BASE64URL.fullmatch(cursor):
        raise _not_a_cursor()
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise _not_a_cursor() from None
    if not isinstance(payload, dict) or set(payload) != {"v", "op", "at", "sig"}:
        raise _not_a_cursor()
    return payload


def _signature(walk: Walk, at: list[Any]) -> str:
    """The digest binding a position to its listing (see the module docstring)."""
    material = ["tmem-cursor", CURSOR_VERSION, walk.op, list(walk.scope), at]
    text = json.dumps(material, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def _is_valid(value: object, kind: type) -> bool:
    """Whether one key column's value has its type and fits the stores' columns."""
    if kind is int:
        return type(value) is int and -_INT64 <= value < _INT64
    if kind is str and isinstance(value, str) and len(value) <= MAX_KEY_CHARS:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return False
        return "\x00" not in value
    return False


def _not_a_cursor() -> InputError:
    return InputError("cursor is not a tmem page cursor (pass back a next_cursor unchanged)")


def _malformed() -> InputError:
    return InputError("cursor is malformed (pass back a next_cursor unchanged)")
