"""Injection flags in Postgres: an append-only log per memory, the newest version current."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from tmem.models import RiskFlag, RiskStatus
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.rows import Row, join_time, split_time
from tmem.store.risk_codec import reasons_from_json, reasons_to_json

_COLUMNS = "memory_id, version, status, reasons, at, at_offset, source, note"
_LATEST = (
    f"SELECT DISTINCT ON (memory_id) {_COLUMNS} FROM tmem_risk_flags WHERE user_id = %s {{where}}"
    " ORDER BY memory_id, version DESC"
)


def put_detected(cursor: Cursor, user_id: str, flags: Sequence[RiskFlag]) -> None:
    """Record the detector's flags for memories that have no flag entry yet."""
    for flag in flags:
        instant, offset = split_time(flag.at)
        cursor.execute(
            f"INSERT INTO tmem_risk_flags (user_id, {_COLUMNS}) VALUES (%s, %s, 1, %s, %s, %s,"
            " %s, %s, %s) ON CONFLICT DO NOTHING",
            (user_id, flag.memory_id, flag.status, reasons_to_json(flag.reasons), instant,
             offset, flag.source, flag.note),
        )  # fmt: skip


def append(cursor: Cursor, user_id: str, flag: RiskFlag) -> RiskFlag:
    """Add ``flag`` as the memory's newest entry and return it with its version."""
    cursor.execute(
        "SELECT coalesce(max(version), 0) FROM tmem_risk_flags"
        " WHERE user_id = %s AND memory_id = %s",
        (user_id, flag.memory_id),
    )
    row = cursor.fetchone()
    version = (int(row[0]) if row else 0) + 1
    instant, offset = split_time(flag.at)
    cursor.execute(
        f"INSERT INTO tmem_risk_flags (user_id, {_COLUMNS})"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (user_id, flag.memory_id, version, flag.status, reasons_to_json(flag.reasons), instant,
         offset, flag.source, flag.note),
    )  # fmt: skip
    return RiskFlag(
        flag.memory_id, flag.status, flag.reasons, flag.at, flag.source, flag.note, version
    )


def latest(cursor: Cursor, user_id: str, memory_ids: Sequence[str] | None) -> dict[str, RiskFlag]:
    """The current entry of each memory in ``memory_ids`` that has one (every memory if None)."""
    if memory_ids is None:
        cursor.execute(_LATEST.format(where=""), (user_id,))
    else:
        cursor.execute(_LATEST.format(where="AND memory_id = ANY(%s)"), (user_id, list(memory_ids)))
    return {flag.memory_id: flag for flag in map(_flag, cursor.fetchall())}


def history(cursor: Cursor, user_id: str, memory_id: str) -> list[RiskFlag]:
    cursor.execute(
        f"SELECT {_COLUMNS} FROM tmem_risk_flags WHERE user_id = %s AND memory_id = %s"
        " ORDER BY version",
        (user_id, memory_id),
    )
    return [_flag(row) for row in cursor.fetchall()]


def erase(cursor: Cursor, user_id: str, memory_id: str) -> None:
    cursor.execute(
        "DELETE FROM tmem_risk_flags WHERE user_id = %s AND memory_id = %s", (user_id, memory_id)
    )


def _flag(row: Row) -> RiskFlag:
    memory_id, version, status, reasons, at, offset, source, note = row
    return RiskFlag(
        memory_id=str(memory_id),
        status=cast(RiskStatus, str(status)),
        reasons=reasons_from_json(reasons),
        at=join_time(at, int(offset)),
        source=str(source),
        note=str(note),
        version=int(version),
    )
