"""One home for validating what callers hand over: ids, user ids, timestamps, limits and
the search's similarity cut.

Every interface (the library, the CLI, REST, MCP) checks input through these functions and
limits, so an id accepted by one is accepted by all of them.

Ids
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

import re
import unicodedata
from datetime import datetime

from tmem import timestamps
from tmem.errors import InputError

MAX_ID_CHARS = 200
"""Characters in an id a caller chooses: a message, session or memory id."""
MAX_USER_ID_CHARS = MAX_ID_CHARS
"""Characters in a caller's user id (the REST service's tenant prefix does not count)."""
MAX_TENANT_CHARS = 64
"""Characters in a tenant name (the store's API-key table enforces its own copy)."""
MAX_STORE_USER_CHARS = MAX_USER_ID_CHARS + 1 + MAX_TENANT_CHARS
"""A store user id: a caller's id of up to 200 characters, or the REST service's
``tenant/user_id``."""
MAX_SPEAKER_CHARS = 200
"""Characters in a message's speaker (or role)."""
MAX_CONTENT_CHARS = 100_000
"""Characters in a message's content."""
MAX_IDEMPOTENCY_KEY_CHARS = 200
"""Characters in a REST ``Idempotency-Key`` header."""
MAX_LABEL_CHARS = 200
"""Characters in an API key's label (the store's API-key table enforces its own copy)."""
MAX_LIMIT = 1000
"""The largest search ``limit``: the library refuses more, REST and MCP clamp to it."""
MAX_PAGE_LIMIT = 1000
"""The most records one page of ``list``, ``history`` or ``export`` holds: the library refuses
more, REST clamps to it."""
DEFAULT_PAGE_LIMIT = 100
"""Records per page when a caller asks for a page without saying how many."""
MAX_CURSOR_CHARS = 4096
"""Characters in a page cursor (one holds two ids of at most 200 characters each, as JSON in
base64); anything longer was not made by tmem."""
MAX_PERSONA_KEY_CHARS = 200
"""Characters in a persona entry's key (an identity key, a preference key, a person's name)."""
MAX_PERSONA_VALUE_CHARS = 2000
"""Characters in a persona entry's value."""
MAX_INSTRUCTIONS_CHARS = 2000
"""Characters in extraction instructions (the deployment's, and each user's)."""
INSTRUCTIONS_TAG = "instructions"
"""The extraction prompt fences instructions in ``<instructions ...>`` ... ``</instructions>``;
instructions may not contain the tag, so they cannot close their own section."""

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_SEPARATORS = frozenset("/\\")
_DOT_SEGMENTS = frozenset({".", ".."})
_USER_ID_RE = re.compile(rf"^[^\x00-\x1f\x7f]{{1,{MAX_STORE_USER_CHARS}}}$")


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


def check_user_id(user_id: object) -> str:
    """Return ``user_id`` if it can name a stored user, else raise :class:`InputError`.

    Lenient, so users stored before the id grammar stay reachable; the interfaces that
    create users (REST, CLI, MCP) also apply :func:`check_id`.
    """
    if not isinstance(user_id, str) or not _USER_ID_RE.match(user_id) or not user_id.strip():
        raise InputError(
            f"user_id must be a non-empty string of at most {MAX_STORE_USER_CHARS}"
            " characters without control characters"
        )
    return user_id


def parse_timestamp(value: str | datetime) -> datetime:
    """Parse an ISO 8601 timestamp; a value without a zone is taken as UTC.

    Accepts a trailing ``Z`` and a space instead of ``T``. Returns an aware datetime whose UTC
    instant lies within years 1..9999 (see :mod:`tmem.timestamps`).

    Raises:
        InputError: the value is not an ISO 8601 date or date-time, contains control
            characters, or lies outside the accepted range.
    """
    return timestamps.parse(value)


def check_text(value: object, what: str, max_chars: int, *, lines: bool = False) -> str:
    """``value`` stripped, if it is non-empty text of at most ``max_chars`` characters without
    control characters (tabs and line breaks too when ``lines``), else :class:`InputError`."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string")
    text = value.strip()
    if not text:
        raise InputError(f"{what} must not be empty or blank")
    if len(text) > max_chars:
        raise InputError(f"{what} must be at most {max_chars} characters")
    allowed = "\n\t" if lines else ""
    for char in text:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cs"):
            raise InputError(f"{what} must not contain the control character U+{ord(char):04X}")
    return text


def check_instructions(value: object, what: str = "instructions") -> str:
    """Extraction instructions stripped, or ``""``: at most :data:`MAX_INSTRUCTIONS_CHARS`
    characters of text (line breaks allowed) that never name the prompt's fence tag.

    Raises:
        InputError: not a string, too long, a control character, or the fence tag.
    """
    if isinstance(value, str) and not value.strip():
        return ""
    text = check_text(value, what, MAX_INSTRUCTIONS_CHARS, lines=True)
    if f"<{INSTRUCTIONS_TAG}" in text.lower() or f"</{INSTRUCTIONS_TAG}" in text.lower():
        raise InputError(f"{what} must not contain <{INSTRUCTIONS_TAG}> tags")
    return text


def check_limit(limit: object) -> int:
    """``limit`` if it is an integer in ``1..MAX_LIMIT``, else :class:`InputError`."""
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"limit must be an integer between 1 and {MAX_LIMIT}")
    return limit


def check_page_limit(limit: object) -> int:
    """``limit`` if it is an integer in ``1..MAX_PAGE_LIMIT``, else :class:`InputError`."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
        raise InputError(f"limit must be an integer between 1 and {MAX_PAGE_LIMIT}")
    return limit


def clamp_page_limit(limit: int) -> int:
    """``limit`` clamped into ``1..MAX_PAGE_LIMIT`` (REST clamps instead of refusing)."""
    return max(1, min(limit, MAX_PAGE_LIMIT))


def check_min_similarity(value: object) -> float | None:
    """A search's ``min_similarity``: None, or a number from 0 to 1 (a cosine), else
    :class:`InputError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"min_similarity must be a number from 0 to 1, not {type(value).__name__}")
    if not 0.0 <= value <= 1.0:  # NaN fails this too
        raise InputError(f"min_similarity must be a number from 0 to 1 (a cosine), not {value!r}")
    return float(value)


def clamp_limit(limit: int) -> int:
    """``limit`` clamped into ``1..MAX_LIMIT`` (REST and MCP clamp instead of refusing)."""
    return max(1, min(limit, MAX_LIMIT))
