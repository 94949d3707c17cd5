"""The SQLite wing's :class:`~tmem.store.plan.Steps`: its SQL for one open transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from tmem.models import (
    HistoryEntry,
    HistoryEvent,
    Item,
    Kind,
    PersonaEntry,
    Record,
    RiskFlag,
    Scene,
    Trigger,
    Turn,
)
from tmem.store import codec
from tmem.store.base import Supersession, VectorRow, WriteBatch
from tmem.store.cascade import MemoryGraph
from tmem.store.codec import Row
from tmem.store.policy import Forgetting
from tmem.store.sqlite import delete, export, read, risk, write
from tmem.store.sqlite.migrate import read_meta
from tmem.store.sqlite.rows import put_row


class SQLiteSteps:
    """:class:`~tmem.store.plan.Steps` on ``conn``, a connection inside ``BEGIN IMMEDIATE``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._bound: tuple[int | None] | None = None

    def _dim(self) -> int | None:
        """The bound embedder's dimension, read once (bind before making the steps)."""
        if self._bound is None:
            embedder = read_meta(self.conn).embedder
            self._bound = (embedder[1] if embedder else None,)
        return self._bound[0]

    # --- what a batch was planned on ------------------------------------------------------------
    def next_seq(self, user_id: str) -> int:
        return read.next_seq(self.conn, user_id)

    def scene_sources(self, user_id: str, scene_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        return read.scene_sources(self.conn, user_id, scene_ids)

    def scene_links(self, user_id: str, turn_ids: Sequence[str]) -> dict[str, str | None]:
        return read.scene_links(self.conn, user_id, turn_ids)

    # --- reads ----------------------------------------------------------------------------------
    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]:
        return read.get_many(self.conn, user_id, memory_ids)

    def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        return read.history(self.conn, user_id, memory_id)

    def persona_entries(self, user_id: str) -> list[PersonaEntry]:
        return read.persona_entries(self.conn, user_id)

    def instructions(self, user_id: str) -> str:
        return read.instructions(self.conn, user_id)

    def kind_of(self, user_id: str, memory_id: str) -> Kind | None:
        return delete.kind_of(self.conn, user_id, memory_id)

    def memory_graph(self, user_id: str) -> MemoryGraph:
        return delete.load_graph(self.conn, user_id)

    def scene_ids(self, user_id: str) -> set[str]:
        return delete.scene_ids(self.conn, user_id)

    def scenes_of_turns(self, user_id: str, turn_ids: Sequence[str]) -> set[str]:
        return delete.scenes_of_turns(self.conn, user_id, turn_ids)

    def scene_has_turns(self, user_id: str, scene_id: str) -> bool:
        return delete.scene_has_turns(self.conn, user_id, scene_id)

    def memory_version(self, user_id: str, memory: Scene | Item) -> int | None:
        return write.memory_version(self.conn, user_id, memory)

    def indexed_text(self, user_id: str, memory: Scene | Item) -> str | None:
        return write.indexed_text(self.conn, user_id, memory.id)

    def item_content(self, user_id: str, item_id: str) -> str | None:
        return write.item_content(self.conn, user_id, item_id)

    def forgotten(self, user_id: str) -> set[str]:
        return read.forgotten(self.conn, user_id)

    # --- writes ---------------------------------------------------------------------------------
    def open_user(self, user_id: str) -> None:
        """Nothing to do: the store registers the user when it bumps its generation."""

    def put_turn(self, user_id: str, turn: Turn) -> None:
        write.put_turn(self.conn, user_id, turn)

    def put_memory(self, user_id: str, memory: Scene | Item, version: int) -> None:
        write.put_memory(self.conn, user_id, memory, version)

    def replace_record(self, user_id: str, record: Record, version: int) -> None:
        if isinstance(record, Scene | Item):
            write.put_memory(self.conn, user_id, record, version)
            return
        scene_id, pending = self.conn.execute(
            "SELECT scene_id, pending FROM turns WHERE user_id = ? AND id = ?",
            (user_id, record.id),
        ).fetchone()
        row = codec.turn_to_dict(record, scene_id=scene_id, pending=bool(pending))
        put_row(self.conn, user_id, row)

    def add_history(
        self,
        user_id: str,
        memory_id: str,
        event: HistoryEvent,
        text: str,
        at: datetime,
        detail: str = "",
    ) -> int:
        return write.add_history(self.conn, user_id, memory_id, event, text, at, detail)

    def mark_superseded(self, user_id: str, change: Supersession, version: int) -> None:
        write.mark_superseded(self.conn, user_id, change, version)

    def put_trigger(self, user_id: str, trigger: Trigger) -> None:
        put_row(self.conn, user_id, codec.trigger_to_dict(trigger))

    def drop_targets(self, user_id: str, memory_ids: Sequence[str]) -> int:
        return write.drop_targets(self.conn, user_id, memory_ids)

    def put_vectors(self, user_id: str, rows: Sequence[VectorRow]) -> None:
        if not rows:
            return
        dim = self._dim()
        for row in rows:
            write.write_vector(self.conn, user_id, row, dim)

    def delete_vectors(self, user_id: str, owner_id: str, spaces: Sequence[str]) -> None:
        for space in spaces:
            self.conn.execute(
                "DELETE FROM vectors WHERE user_id = ? AND owner_id = ? AND space = ?",
                (user_id, owner_id, space),
            )

    def put_persona_entry(self, user_id: str, entry: PersonaEntry) -> None:
        put_row(self.conn, user_id, codec.persona_entry_to_dict(entry))

    def put_instructions(self, user_id: str, text: str, at: datetime) -> None:
        write.put_instructions(self.conn, user_id, text, at)

    def link_turns(self, batch: WriteBatch) -> None:
        write.link_turns(self.conn, batch)

    def put_detected_risks(self, user_id: str, flags: Sequence[RiskFlag]) -> None:
        risk.put_detected(self.conn, user_id, flags)

    def append_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        return risk.append(self.conn, user_id, flag)

    def import_row(self, user_id: str, row: Row) -> None:
        export.import_row(self.conn, user_id, row, self._dim())

    # --- erasing --------------------------------------------------------------------------------
    def erase_memory(self, user_id: str, memory_id: str, at: datetime, detail: str) -> int:
        return delete.erase_memory(self.conn, user_id, memory_id, at, detail)

    def erase_persona_entry(self, user_id: str, entry_id: str, at: datetime, detail: str) -> None:
        delete.erase_persona_entry(self.conn, user_id, entry_id, at, detail)

    def erase_model_text(self, user_id: str, entry_id: str, detail: str) -> None:
        delete.erase_model_text(self.conn, user_id, entry_id, detail)

    def erase_forgotten(self, user_id: str, plan: Forgetting, at: datetime) -> int:
        return delete.erase_forgotten(self.conn, user_id, plan, at)

    def delete_triggers(self, user_id: str, trigger_ids: Sequence[str]) -> int:
        return delete.delete_triggers(self.conn, user_id, trigger_ids)

    def set_sources(self, user_id: str, memory_id: str, turn_ids: Sequence[str]) -> None:
        delete.set_sources(self.conn, user_id, memory_id, turn_ids)

    def set_scene_ids(self, user_id: str, item_id: str, scene_ids: Sequence[str]) -> None:
        write.set_scene_ids(self.conn, user_id, item_id, scene_ids)

    def mark_waiting(self, user_id: str, turn_ids: Sequence[str]) -> None:
        delete.mark_waiting(self.conn, user_id, turn_ids)

    def drop_context_vectors(self, user_id: str, turn_ids: Sequence[str]) -> None:
        delete.drop_context_vectors(self.conn, user_id, turn_ids)

    def scrub_finished_jobs(self, user_id: str) -> int:
        return delete.scrub_finished_jobs(self.conn, user_id)

    def compact(self, user_id: str) -> None:
        delete.compact_text_index(self.conn, user_id)
