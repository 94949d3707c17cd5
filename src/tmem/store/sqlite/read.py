"""Read paths of the SQLite store: functions over a connection inside a read snapshot.

Every query names ``user_id``; ids from callers are bound as parameters, never spliced.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from tmem.models import KINDS, HistoryEntry, Kind, PersonaEntry, Record, Scene, Trigger, Turn
from tmem.store import codec, plan
from tmem.store.sqlite.rows import fetch_rows, in_chunks


def records(
    conn: sqlite3.Connection,
    user_id: str,
    kind: str,
    where: str = "",
    params: Sequence[Any] = (),
    *,
    ordered: bool = True,
) -> list[Record]:
    return [
        codec.memory_from_dict(user_id, row)
        for row in fetch_rows(conn, kind, user_id, where, params, ordered=ordered)
    ]


def get_many(conn: sqlite3.Connection, user_id: str, ids: Sequence[str]) -> dict[str, Record]:
    found: dict[str, Record] = {}
    unique = list(dict.fromkeys(ids))
    for chunk, marks in in_chunks(unique):
        for kind in KINDS:
            where = f"id IN ({marks})"
            for record in records(conn, user_id, kind, where, chunk, ordered=False):
                found.setdefault(record.id, record)
    return found


def list_memories(
    conn: sqlite3.Connection, user_id: str, kind: Kind | None, include_superseded: bool
) -> list[Record]:
    """Memories in time order (:func:`tmem.store.plan.list_memories`)."""
    return plan.list_memories(
        lambda each, where: records(conn, user_id, each, where), kind, include_superseded
    )


def turns(conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
    """Turns in the order asked for; unknown ids are skipped."""
    found = get_many(conn, user_id, turn_ids)
    return [t for t in (found.get(i) for i in turn_ids) if isinstance(t, Turn)]


def recent_turns(conn: sqlite3.Connection, user_id: str, limit: int) -> list[Turn]:
    if limit <= 0:
        return []
    where = "id IN (SELECT id FROM turns WHERE user_id = ? ORDER BY seq DESC, id DESC LIMIT ?)"
    return [
        r for r in records(conn, user_id, "turn", where, (user_id, limit)) if isinstance(r, Turn)
    ]


def pending_turns(conn: sqlite3.Connection, user_id: str) -> list[Turn]:
    return [r for r in records(conn, user_id, "turn", "pending = 1") if isinstance(r, Turn)]


def last_scene(conn: sqlite3.Connection, user_id: str) -> Scene | None:
    where = (
        "rowid = (SELECT rowid FROM scenes WHERE user_id = ?"
        " ORDER BY time_key DESC, rowid DESC LIMIT 1)"
    )
    found = records(conn, user_id, "scene", where, (user_id,))
    return found[0] if found and isinstance(found[0], Scene) else None


def triggers_for(
    conn: sqlite3.Connection, user_id: str, trigger_ids: Sequence[str]
) -> list[Trigger]:
    """Triggers in the order asked for; unknown ids are skipped."""
    found: dict[str, Trigger] = {}
    unique = list(dict.fromkeys(trigger_ids))
    for chunk, marks in in_chunks(unique):
        for row in fetch_rows(conn, "trigger", user_id, f"id IN ({marks})", chunk):
            found[row["id"]] = codec.trigger_from_dict(user_id, row)
    return [found[i] for i in trigger_ids if i in found]


def triggers_of(conn: sqlite3.Connection, user_id: str, memory_id: str) -> list[Trigger]:
    where = "id IN (SELECT trigger_id FROM trigger_targets WHERE user_id = ? AND memory_id = ?)"
    rows = fetch_rows(conn, "trigger", user_id, where, (user_id, memory_id))
    return [codec.trigger_from_dict(user_id, row) for row in rows]


def persona_entries(conn: sqlite3.Connection, user_id: str) -> list[PersonaEntry]:
    rows = fetch_rows(conn, "persona_entry", user_id)
    return [codec.persona_entry_from_dict(user_id, row) for row in rows]


def instructions(conn: sqlite3.Connection, user_id: str) -> str:
    row = conn.execute("SELECT text FROM instructions WHERE user_id = ?", (user_id,)).fetchone()
    return "" if row is None else str(row[0])


def history(conn: sqlite3.Connection, user_id: str, memory_id: str) -> list[HistoryEntry]:
    rows = fetch_rows(conn, "history", user_id, "memory_id = ?", (memory_id,))
    return [codec.history_from_dict(row) for row in rows]


def next_seq(conn: sqlite3.Connection, user_id: str) -> int:
    """The sequence number the user's next turn gets (0 for a new user)."""
    row = conn.execute("SELECT next_seq FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return 0 if row is None else int(row[0])


def users(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT user_id FROM users ORDER BY user_id").fetchall()
    return [str(user_id) for (user_id,) in rows]


def generation(conn: sqlite3.Connection, user_id: str) -> int | None:
    row = conn.execute("SELECT generation FROM users WHERE user_id = ?", (user_id,)).fetchone()
    return None if row is None else int(row[0])


# --- what a write was planned on (see tmem.store.conflict) ------------------------------------
def scene_sources(
    conn: sqlite3.Connection, user_id: str, scene_ids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Source turns of the scenes that exist among ``scene_ids``."""
    where = "id IN ({})"
    found: dict[str, tuple[str, ...]] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(scene_ids))):
        for row in fetch_rows(conn, "scene", user_id, where.format(marks), chunk, ordered=False):
            found[row["id"]] = tuple(row["source_turns"])
    return found


def scene_links(
    conn: sqlite3.Connection, user_id: str, turn_ids: Sequence[str]
) -> dict[str, str | None]:
    """The scene each existing turn among ``turn_ids`` is linked to (None: no scene)."""
    found: dict[str, str | None] = {}
    for chunk, marks in in_chunks(list(dict.fromkeys(turn_ids))):
        rows = conn.execute(
            f"SELECT id, scene_id FROM turns WHERE user_id = ? AND id IN ({marks})",
            (user_id, *chunk),
        )
        found.update((str(turn_id), scene_id) for turn_id, scene_id in rows)
    return found


def forgotten(conn: sqlite3.Connection, user_id: str) -> set[str]:
    """Ids of the user's memories that were deleted (their history holds a tombstone)."""
    rows = conn.execute(
        "SELECT memory_id FROM history WHERE user_id = ? AND event = 'deleted'", (user_id,)
    )
    return {str(memory_id) for (memory_id,) in rows}
