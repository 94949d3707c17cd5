"""The one grammar for the ids callers choose: message ids and user ids.

An id a caller may create is 1 to 200 characters and can travel unchanged through every
interface (a Python call, a CLI argument, one percent-encoded URL path segment, an MCP tool
argument), so whatever was accepted can later be fetched, updated, deleted and shown in
history everywhere. That rules out:

- ``/`` and ``\\`` (a path separator splits the id, or a proxy turns one into the other);
- the whole id ``.`` or ``..`` (HTTP clients and proxies remove dot segments from paths);
- control, format, surrogate, private-use and unassigned code points and line or paragraph
  separators (U+0000-U+001F, U+007F-U+009F, U+200B, U+202E, U+00AD, U+2028, ...): invisible or
  reordering characters make two different ids look the same;
- leading or trailing whitespace, and ids that are only whitespace.

Everything else is allowed: letters of any script, digits, punctuation, spaces inside, emoji.

Ids stored by tmem before this grammar existed may break it. Looking one up never applies the
grammar (:func:`check_lookup_id`), so such data stays readable and deletable: through
:class:`tmem.Memory`, the CLI and MCP for every id, and over REST for every id HTTP can carry
in one path segment (ids containing ``/`` or equal to ``.``/``..``: use the library, the CLI
or ``delete_user``).
"""

from __future__ import annotations

import unicodedata

from tmem.errors import InputError

MAX_ID_CHARS = 200
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SEPARATORS = frozenset("/\\")
_DOT_SEGMENTS = frozenset({".", ".."})


def id_problem(value: object) -> str | None:
    """Why ``value`` is not an id a caller may create, or None when it is one."""
    if not isinstance(value, str):
        return "must be a string"
    if not value or not value.strip():
        return "must not be empty or blank"
    if len(value) > MAX_ID_CHARS:
        return f"must be at most {MAX_ID_CHARS} characters"
    if value != value.strip():
        return "must not start or end with whitespace"
    if value in _DOT_SEGMENTS:
        return "must not be '.' or '..'"
    for char in value:
        if char in _SEPARATORS:
            return f"must not contain {char!r}"
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            return f"must not contain the invisible or control character U+{ord(char):04X}"
    return None


def check_id(value: object, what: str = "id") -> str:
    """``value`` if it is an id a caller may create, else :class:`InputError` naming ``what``."""
    problem = id_problem(value)
    if problem is not None:
        raise InputError(f"{what} {problem}")
    assert isinstance(value, str)
    return value


def check_lookup_id(value: object, what: str = "id") -> str:
    """``value`` if it could name a stored id, new or from before the grammar.

    Lookups (get, update, delete, history) accept any non-empty string of at most
    :data:`MAX_ID_CHARS` characters that a store can hold (no NUL, no lone surrogate).
    """
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise InputError(f"{what} must be a non-empty string of at most {MAX_ID_CHARS} characters")
    if "\x00" in value:
        raise InputError(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{what} contains a lone UTF-16 surrogate") from None
    return value
