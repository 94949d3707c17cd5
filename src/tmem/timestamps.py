"""The timestamps tmem accepts, checked once where they enter, and read back whatever is stored.

A timestamp is accepted when it is ISO 8601 (printable ASCII, no control characters), its UTC
offset is a whole number of seconds, and its instant *in UTC* lies within years 1 to 9999:
the range Python's ``datetime`` can hold in UTC, so every store reads it back in any zone.
``9999-12-31T23:59:59-01:00`` is the year 10000 in UTC and is refused, as is
``0001-01-01T00:00:00+01:00`` (the year 0). Messages (library, CLI, REST, MCP) and imported
records go through :func:`parse`, so both stores accept exactly the same values (issue 12).

Stored data is never refused on the way out: :func:`clamped` maps an instant outside the range
(written before the check existed) to its nearest end, so such a row can still be listed,
exported, re-imported and deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tmem.errors import InputError

EARLIEST = datetime.min.replace(tzinfo=UTC)
"""The earliest accepted instant: 0001-01-01T00:00:00 UTC."""
LATEST = datetime.max.replace(tzinfo=UTC)
"""The latest accepted instant: 9999-12-31T23:59:59.999999 UTC."""


def aware(moment: datetime) -> datetime:
    """``moment`` with a zone: a naive value is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def in_range(moment: datetime) -> bool:
    """Whether ``moment``'s UTC instant lies within years 1..9999 (comparing never overflows)."""
    return EARLIEST <= aware(moment) <= LATEST


def check(moment: datetime) -> datetime:
    """``moment`` made aware, if tmem accepts it.

    Raises:
        InputError: the UTC instant is outside years 1..9999, or the offset has a fraction
            of a second (no store keeps one).
    """
    moment = aware(moment)
    offset = moment.utcoffset() or timedelta(0)
    if offset.microseconds:
        raise InputError(f"timestamp {moment.isoformat()!r}: UTC offset has a fraction of a second")
    if not in_range(moment):
        raise InputError(
            f"timestamp {moment.isoformat()!r} is outside the accepted range"
            f" {EARLIEST.isoformat()} .. {LATEST.isoformat()} (in UTC)"
        )
    return moment


def parse(value: str | datetime) -> datetime:
    """Parse and check an ISO 8601 timestamp; a value without a zone is taken as UTC.

    Accepts a trailing ``Z`` and a space instead of ``T``; spaces around the value are ignored.

    Raises:
        InputError: not ISO 8601, contains control or non-ASCII characters, or outside the
            accepted range (see :func:`check`).
    """
    if isinstance(value, datetime):
        return check(value)
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"timestamp must be an ISO 8601 string, got {value!r}")
    if not (value.isascii() and value.isprintable()):
        # datetime.fromisoformat accepts '2024-01-01T00:00:00\x00'; nothing stores that.
        raise InputError(f"timestamp contains control or non-ASCII characters: {value!r}")
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"timestamp is not ISO 8601: {value!r}") from None
    return check(parsed)


def clamped(moment: datetime) -> datetime:
    """``moment`` if it is in range, else the nearest end of the range (in UTC)."""
    moment = aware(moment)
    if in_range(moment):
        return moment
    return EARLIEST if moment < EARLIEST else LATEST


def decode(text: str) -> datetime:
    """A stored ISO 8601 text as an in-range aware datetime; never raises.

    Text that no longer parses (written by hand or by a bug) reads as :data:`EARLIEST`, so the
    row stays visible, exportable and deletable instead of failing every read of its user.
    """
    try:
        return clamped(datetime.fromisoformat(text))
    except (TypeError, ValueError):
        return EARLIEST
