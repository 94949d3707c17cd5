"""Injection flags in SQLite: an append-only log per memory, the newest version current."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import cast

from tmem.models import RiskFlag, RiskStatus
from tmem.store.codec import decode_time, encode_time
from tmem.store.risk_codec import reasons_from_json, reasons_to_json
from tmem.store.sqlite.rows import in_chunks

_COLUMNS = "memory_id, version, status, reasons, at, source, note"
_LATEST = (
    f"SELECT {_COLUMNS} FROM risk_flags AS r WHERE r.user_id = ? {{where}} AND r.version ="
    " (SELECT max(version) FROM risk_flags AS x WHERE x.user_id = r.user_id"
    " AND x.memory_id = r.memory_id) ORDER BY r.memory_id"
)


def put_detected(conn: sqlite3.Connection, user_id: str, flags: Sequence[RiskFlag]) -> None:
    """Record the detector's flags for memories that have no flag entry yet."""
    conn.executemany(
        f"INSERT OR IGNORE INTO risk_flags (user_id, {_COLUMNS}) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
        [
            (user_id, f.memory_id, f.status, reasons_to_json(f.reasons), encode_time(f.at),
             f.source, f.note)
            for f in flags
        ],
    )  # fmt: skip


def append(conn: sqlite3.Connection, user_id: str, flag: RiskFlag) -> RiskFlag:
    """Add ``flag`` as the memory's newest entry and return it with its version."""
    row = conn.execute(
        "SELECT coalesce(max(version), 0) FROM risk_flags WHERE user_id = ? AND memory_id = ?",
        (user_id, flag.memory_id),
    ).fetchone()
    version = int(row[0]) + 1
    conn.execute(
        f"INSERT INTO risk_flags (user_id, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, flag.memory_id, version, flag.status, reasons_to_json(flag.reasons),
         encode_time(flag.at), flag.source, flag.note),
    )  # fmt: skip
    return RiskFlag(
        flag.memory_id, flag.status, flag.reasons, flag.at, flag.source, flag.note, version
    )


def latest(
    conn: sqlite3.Connection, user_id: str, memory_ids: Sequence[str] | None
) -> dict[str, RiskFlag]:
    """The current entry of each memory in ``memory_ids`` that has one (every memory if None)."""
    if memory_ids is None:
        rows = conn.execute(_LATEST.format(where=""), (user_id,)).fetchall()
        return {flag.memory_id: flag for flag in map(_flag, rows)}
    found: dict[str, RiskFlag] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(memory_ids))):
        sql = _LATEST.format(where=f"AND r.memory_id IN ({marks})")
        for row in conn.execute(sql, (user_id, *chunk)).fetchall():
            flag = _flag(row)
            found[flag.memory_id] = flag
    return found


def history(conn: sqlite3.Connection, user_id: str, memory_id: str) -> list[RiskFlag]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM risk_flags WHERE user_id = ? AND memory_id = ? ORDER BY version",
        (user_id, memory_id),
    ).fetchall()
    return [_flag(row) for row in rows]


def erase(conn: sqlite3.Connection, user_id: str, memory_id: str) -> None:
    conn.execute("DELETE FROM risk_flags WHERE user_id = ? AND memory_id = ?", (user_id, memory_id))


def _flag(row: sqlite3.Row | tuple[object, ...]) -> RiskFlag:
    memory_id, version, status, reasons, at, source, note = tuple(row)
    return RiskFlag(
        memory_id=str(memory_id),
        status=cast(RiskStatus, str(status)),
        reasons=reasons_from_json(reasons),
        at=decode_time(str(at)),
        source=str(source),
        note=str(note),
        version=int(cast(int, version)),
    )
