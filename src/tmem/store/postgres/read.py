"""Read paths of the Postgres store: functions over a cursor inside one transaction.

Every query names ``user_id`` (Row-Level Security would hide other users' rows anyway); ids
from callers are bound as parameters, never spliced. Orders match the SQLite store's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from tmem.models import KINDS, HistoryEntry, Kind, PersonaEntry, Record, Scene, Trigger, Turn
from tmem.store import plan
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.rows import (
    HISTORY_COLUMNS,
    ITEM_COLUMNS,
    PERSONA_COLUMNS,
    SCENE_COLUMNS,
    TRIGGER_COLUMNS,
    TURN_COLUMNS,
    Row,
    history_from_row,
    item_from_row,
    join_time,
    persona_from_row,
    scene_from_row,
    trigger_from_row,
    turn_from_row,
)


def _select(kind: Kind) -> tuple[str, str, Callable[[Row], Record]]:
    """Columns, table and decoder of ``kind``."""
    if kind == "turn":
        return TURN_COLUMNS, "tmem_turns", turn_from_row
    if kind == "scene":
        return SCENE_COLUMNS, "tmem_scenes", scene_from_row
    return ITEM_COLUMNS, "tmem_items", item_from_row


# Ids sort bytewise, as in SQLite, whatever collation the database was created with.
_ORDER = {
    "turn": 'seq, id COLLATE "C"',
    "scene": 'ts, id COLLATE "C"',
    "item": 'ts, id COLLATE "C"',
}


def records(
    cursor: Cursor, user_id: str, kind: Kind, where: str = "", params: Sequence[object] = ()
) -> list[Record]:
    """Records of ``kind`` in table order; ``where`` is SQL written by this package only."""
    columns, table, decode = _select(kind)
    clause = f" AND ({where})" if where else ""
    cursor.execute(
        f"SELECT {columns} FROM {table} WHERE user_id = %s{clause} ORDER BY {_ORDER[kind]}",
        (user_id, *params),
    )
    return [decode(row) for row in cursor.fetchall()]


def get_many(cursor: Cursor, user_id: str, ids: Sequence[str]) -> dict[str, Record]:
    found: dict[str, Record] = {}
    unique = list(dict.fromkeys(ids))
    for kind in KINDS:
        for record in records(cursor, user_id, kind, "id = ANY(%s)", (unique,)):
            found.setdefault(record.id, record)
    return found


def list_memories(
    cursor: Cursor, user_id: str, kind: Kind | None, include_superseded: bool
) -> list[Record]:
    """Memories in time order (:func:`tmem.store.plan.list_memories`)."""
    return plan.list_memories(
        lambda each, where: records(cursor, user_id, each, where), kind, include_superseded
    )


def turns(cursor: Cursor, user_id: str, turn_ids: Sequence[str]) -> list[Turn]:
    """Turns in the order asked for; unknown ids are skipped."""
    rows = records(cursor, user_id, "turn", "id = ANY(%s)", (list(turn_ids),))
    found = {turn.id: turn for turn in rows if isinstance(turn, Turn)}
    return [found[i] for i in turn_ids if i in found]


def recent_turns(cursor: Cursor, user_id: str, limit: int) -> list[Turn]:
    if limit <= 0:
        return []
    where = (
        "id IN (SELECT id FROM tmem_turns WHERE user_id = %s"
        ' ORDER BY seq DESC, id COLLATE "C" DESC LIMIT %s)'
    )
    found = records(cursor, user_id, "turn", where, (user_id, limit))
    return [r for r in found if isinstance(r, Turn)]


def pending_turns(cursor: Cursor, user_id: str) -> list[Turn]:
    return [r for r in records(cursor, user_id, "turn", "pending") if isinstance(r, Turn)]


def last_scene(cursor: Cursor, user_id: str) -> Scene | None:
    cursor.execute(
        f"SELECT {SCENE_COLUMNS} FROM tmem_scenes WHERE user_id = %s"
        " ORDER BY ts DESC, ord DESC LIMIT 1",
        (user_id,),
    )
    row = cursor.fetchone()
    return None if row is None else scene_from_row(row)


def _triggers(cursor: Cursor, user_id: str, where: str, params: Sequence[object]) -> list[Trigger]:
    """Triggers by id with their targets in position order."""
    cursor.execute(
        f"SELECT {TRIGGER_COLUMNS}, coalesce((SELECT array_agg(ARRAY[x.memory_id,"
        " x.confidence::text] ORDER BY x.position) FROM tmem_trigger_targets x"
        " WHERE x.user_id = t.user_id AND x.trigger_id = t.id), '{}')"
        f' FROM tmem_triggers t WHERE user_id = %s AND ({where}) ORDER BY id COLLATE "C"',
        (user_id, *params),
    )
    return [
        trigger_from_row(row[:-1], [(memory, float(conf)) for memory, conf in row[-1]])
        for row in cursor.fetchall()
    ]


def triggers_for(cursor: Cursor, user_id: str, trigger_ids: Sequence[str]) -> list[Trigger]:
    """Triggers in the order asked for; unknown ids are skipped."""
    found = {t.id: t for t in _triggers(cursor, user_id, "id = ANY(%s)", (list(trigger_ids),))}
    return [found[i] for i in trigger_ids if i in found]


def triggers_of(cursor: Cursor, user_id: str, memory_id: str) -> list[Trigger]:
    where = (
        "id IN (SELECT trigger_id FROM tmem_trigger_targets WHERE user_id = %s AND memory_id = %s)"
    )
    return _triggers(cursor, user_id, where, (user_id, memory_id))


def all_triggers(cursor: Cursor, user_id: str) -> list[Trigger]:
    return _triggers(cursor, user_id, "true", ())


def persona_entries(cursor: Cursor, user_id: str) -> list[PersonaEntry]:
    cursor.execute(
        f"SELECT {PERSONA_COLUMNS} FROM tmem_persona_entries WHERE user_id = %s"
        ' ORDER BY speaker COLLATE "C", position, id COLLATE "C"',
        (user_id,),
    )
    return [persona_from_row(row) for row in cursor.fetchall()]


def instructions(cursor: Cursor, user_id: str) -> tuple[str, datetime] | None:
    """The user's extraction instructions and when they were set (None: there are none)."""
    cursor.execute(
        "SELECT text, updated_at, updated_at_offset FROM tmem_instructions WHERE user_id = %s",
        (user_id,),
    )
    row = cursor.fetchone()
    return None if row is None else (str(row[0]), join_time(row[1], row[2]))


def history(cursor: Cursor, user_id: str, memory_id: str | None = None) -> list[HistoryEntry]:
    """One memory's history by version, or (``memory_id`` None) every entry of the user."""
    where, params = ("memory_id = %s", (user_id, memory_id)) if memory_id else ("true", (user_id,))
    cursor.execute(
        f"SELECT {HISTORY_COLUMNS} FROM tmem_history WHERE user_id = %s AND {where}"
        ' ORDER BY memory_id COLLATE "C", version',
        params,
    )
    return [history_from_row(row) for row in cursor.fetchall()]


def next_seq(cursor: Cursor, user_id: str) -> int:
    """The sequence number the user's next turn gets (0 for a new user)."""
    cursor.execute("SELECT next_seq FROM tmem_users WHERE user_id = %s", (user_id,))
    row = cursor.fetchone()
    return 0 if row is None else int(row[0])


def users(cursor: Cursor) -> list[str]:
    cursor.execute('SELECT user_id FROM tmem_users ORDER BY user_id COLLATE "C"')
    return [str(user_id) for (user_id,) in cursor.fetchall()]


# --- what a write was planned on (see tmem.store.conflict) ------------------------------------
def scene_sources(
    cursor: Cursor, user_id: str, scene_ids: Sequence[str]
) -> dict[str, tuple[str, ...]]:
    """Source turns of the scenes that exist among ``scene_ids``."""
    cursor.execute(
        "SELECT id, source_turns FROM tmem_scenes WHERE user_id = %s AND id = ANY(%s)",
        (user_id, list(scene_ids)),
    )
    return {str(scene_id): tuple(turns) for scene_id, turns in cursor.fetchall()}


def scene_links(cursor: Cursor, user_id: str, turn_ids: Sequence[str]) -> dict[str, str | None]:
    """The scene each existing turn among ``turn_ids`` is linked to (None: no scene)."""
    cursor.execute(
        "SELECT id, scene_id FROM tmem_turns WHERE user_id = %s AND id = ANY(%s)",
        (user_id, list(turn_ids)),
    )
    return {str(turn_id): scene_id for turn_id, scene_id in cursor.fetchall()}


def forgotten(cursor: Cursor, user_id: str) -> set[str]:
    """Ids of the user's memories that were deleted (their history holds a tombstone)."""
    cursor.execute(
        "SELECT memory_id FROM tmem_history WHERE user_id = %s AND event = 'deleted'", (user_id,)
    )
    return {str(memory_id) for (memory_id,) in cursor.fetchall()}
