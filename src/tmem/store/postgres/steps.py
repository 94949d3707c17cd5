"""The Postgres wing's :class:`~tmem.store.plan.Steps`: its SQL for one open transaction."""

from __future__ import annotations

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
from tmem.spaces import CONTEXT
from tmem.store import codec
from tmem.store.base import Supersession, VectorRow, WriteBatch
from tmem.store.cascade import MemoryGraph
from tmem.store.codec import Row
from tmem.store.policy import Forgetting
from tmem.store.postgres import delete, export, read, risk, write
from tmem.store.postgres.connection import Cursor
from tmem.store.postgres.migrate import read_meta, vector_dim, writable_dim


class PostgresSteps:
    """:class:`~tmem.store.plan.Steps` on ``cursor``, in a transaction scoped to one user."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self._import_dim: tuple[int | None] | None = None

    # --- what a batch was planned on ------------------------------------------------------------
    def next_seq(self, user_id: str) -> int:
        return read.next_seq(self.cursor, user_id)

    def scene_sources(self, user_id: str, scene_ids: Sequence[str]) -> dict[str, tuple[str, ...]]:
        return read.scene_sources(self.cursor, user_id, scene_ids)

    def scene_links(self, user_id: str, turn_ids: Sequence[str]) -> dict[str, str | None]:
        return read.scene_links(self.cursor, user_id, turn_ids)

    # --- reads ----------------------------------------------------------------------------------
    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]:
        return read.get_many(self.cursor, user_id, memory_ids)

    def history(self, user_id: str, memory_id: str) -> list[HistoryEntry]:
        return read.history(self.cursor, user_id, memory_id)

    def persona_entries(self, user_id: str) -> list[PersonaEntry]:
        return read.persona_entries(self.cursor, user_id)

    def instructions(self, user_id: str) -> str:
        found = read.instructions(self.cursor, user_id)
        return "" if found is None else found[0]

    def kind_of(self, user_id: str, memory_id: str) -> Kind | None:
        return delete.kind_of(self.cursor, user_id, memory_id)

    def memory_graph(self, user_id: str) -> MemoryGraph:
        return delete.load_graph(self.cursor, user_id)

    def scene_ids(self, user_id: str) -> set[str]:
        return delete.scene_ids(self.cursor, user_id)

    def scenes_of_turns(self, user_id: str, turn_ids: Sequence[str]) -> set[str]:
        return delete.scenes_of_turns(self.cursor, user_id, turn_ids)

    def scene_has_turns(self, user_id: str, scene_id: str) -> bool:
        return delete.scene_has_turns(self.cursor, user_id, scene_id)

    def memory_version(self, user_id: str, memory: Scene | Item) -> int | None:
        return write.memory_version(self.cursor, user_id, memory)

    def indexed_text(self, user_id: str, memory: Scene | Item) -> str | None:
        return write.indexed_text(self.cursor, user_id, memory)

    def item_content(self, user_id: str, item_id: str) -> str | None:
        return write.item_content(self.cursor, user_id, item_id)

    def forgotten(self, user_id: str) -> set[str]:
        return read.forgotten(self.cursor, user_id)

    # --- writes ---------------------------------------------------------------------------------
    def open_user(self, user_id: str) -> None:
        write.touch_user(self.cursor, user_id)

    def put_turn(self, user_id: str, turn: Turn) -> None:
        write.put_turn(self.cursor, user_id, turn)

    def put_memory(self, user_id: str, memory: Scene | Item, version: int) -> None:
        write.put_memory(self.cursor, user_id, memory, version)

    def replace_record(self, user_id: str, record: Record, version: int) -> None:
        if isinstance(record, Turn):
            write.put_turn(self.cursor, user_id, record)
        else:
            write.put_memory(self.cursor, user_id, record, version)

    def add_history(
        self,
        user_id: str,
        memory_id: str,
        event: HistoryEvent,
        text: str,
        at: datetime,
        detail: str = "",
    ) -> int:
        return write.add_history(self.cursor, user_id, memory_id, event, text, at, detail)

    def mark_superseded(self, user_id: str, change: Supersession, version: int) -> None:
        write.mark_superseded(self.cursor, user_id, change, version)

    def put_trigger(self, user_id: str, trigger: Trigger) -> None:
        write.put_trigger(self.cursor, user_id, trigger)

    def drop_targets(self, user_id: str, memory_ids: Sequence[str]) -> int:
        return write.drop_targets(self.cursor, user_id, memory_ids)

    def put_vectors(self, user_id: str, rows: Sequence[VectorRow]) -> None:
        if rows:
            write.put_vectors(self.cursor, user_id, rows, writable_dim(self.cursor, rows))

    def delete_vectors(self, user_id: str, owner_id: str, spaces: Sequence[str]) -> None:
        write.delete_vectors(self.cursor, user_id, [owner_id], spaces)

    def put_persona_entry(self, user_id: str, entry: PersonaEntry) -> None:
        write.put_persona_entry(self.cursor, user_id, entry)

    def put_instructions(self, user_id: str, text: str, at: datetime) -> None:
        write.put_instructions(self.cursor, user_id, text, at)

    def link_turns(self, batch: WriteBatch) -> None:
        write.link_turns(self.cursor, batch)

    def put_detected_risks(self, user_id: str, flags: Sequence[RiskFlag]) -> None:
        risk.put_detected(self.cursor, user_id, flags)

    def append_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag:
        return risk.append(self.cursor, user_id, flag)

    def import_row(self, user_id: str, row: Row) -> None:
        if self._import_dim is None:
            self._import_dim = (vector_dim(read_meta(self.cursor)),)
        dim = self._import_dim[0]
        if dim is None and row.get("type") == "vector":
            # The first vector of the import makes the vector table (once per transaction).
            dim = writable_dim(self.cursor, [codec.vector_from_dict(row)])
            self._import_dim = (dim,)
        export.import_row(self.cursor, user_id, row, dim)

    # --- erasing --------------------------------------------------------------------------------
    def erase_memory(self, user_id: str, memory_id: str, at: datetime, detail: str) -> int:
        return delete.erase_memory(self.cursor, user_id, memory_id, at, detail)

    def erase_persona_entry(self, user_id: str, entry_id: str, at: datetime, detail: str) -> None:
        delete.erase_persona_entry(self.cursor, user_id, entry_id, at, detail)

    def erase_model_text(self, user_id: str, entry_id: str, detail: str) -> None:
        delete.erase_model_text(self.cursor, user_id, entry_id, detail)

    def erase_forgotten(self, user_id: str, plan: Forgetting, at: datetime) -> int:
        return delete.erase_forgotten(self.cursor, user_id, plan, at)

    def delete_triggers(self, user_id: str, trigger_ids: Sequence[str]) -> int:
        return write.delete_triggers(self.cursor, user_id, trigger_ids)

    def set_sources(self, user_id: str, memory_id: str, turn_ids: Sequence[str]) -> None:
        delete.set_sources(self.cursor, user_id, memory_id, turn_ids)

    def set_scene_ids(self, user_id: str, item_id: str, scene_ids: Sequence[str]) -> None:
        delete.set_scene_ids(self.cursor, user_id, item_id, scene_ids)

    def mark_waiting(self, user_id: str, turn_ids: Sequence[str]) -> None:
        delete.mark_waiting(self.cursor, user_id, turn_ids)

    def drop_context_vectors(self, user_id: str, turn_ids: Sequence[str]) -> None:
        write.delete_vectors(self.cursor, user_id, list(turn_ids), [CONTEXT.name])

    def scrub_finished_jobs(self, user_id: str) -> int:
        return delete.scrub_finished_jobs(self.cursor, user_id)

    def compact(self, user_id: str) -> None:
        """Nothing to do: Postgres drops erased terms with their rows (VACUUM reclaims them)."""
