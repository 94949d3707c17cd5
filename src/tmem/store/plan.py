"""What a write, an update, a deletion and an import do, step by step, for both wings.

The SQLite and the Postgres wing used to spell out the same sequences twice (which rows a
batch writes in which order, when history gets a ``created`` entry, what forgetting a memory
takes along). The sequences live here now, once; each wing supplies :class:`Steps`, the
dialect's SQL for one open transaction, and decides nothing of its own.

Every function takes ``steps`` bound to a transaction the wing opened (SQLite: ``BEGIN
IMMEDIATE``; Postgres: a pooled transaction holding the user's advisory lock), so the whole
sequence commits or rolls back as one.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from tmem.errors import InputError, NotFoundError
from tmem.models import (
    KINDS,
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
from tmem.persona.entries import (
    PersonaChange,
    PersonaEdit,
    apply_edit,
    forget_entries,
    merge_entries,
)
from tmem.persona.merge import PersonaDelta
from tmem.spaces import CONTEXT
from tmem.store.base import Supersession, VectorRow, WriteBatch
from tmem.store.cascade import DeletionPlan, MemoryGraph, plan_deletion
from tmem.store.codec import LEGACY_TYPES, Row, in_time_order, legacy_persona_entries
from tmem.store.conflict import check_basis
from tmem.store.fts import index_text
from tmem.store.policy import Derivations, Forgetting, plan_forget, without_forgotten
from tmem.validate import check_instructions

REPLACED = "replaced: its turns were derived again"
"""The tombstone detail of a scene erased because a later derivation took all its turns."""
PERSONA = "persona"
"""The tombstone detail of a persona entry deleted by hand."""
PERSONA_REPLACED = "persona, replaced by a later extraction"
"""The tombstone detail of a persona entry the merge rules dropped (overwritten, evicted)."""
MODEL, HAND = "model", "hand"
"""A persona entry's ``created`` and ``updated`` history entries name who wrote the text."""

Owned = Turn | Scene | Item | Trigger


class Steps(Protocol):
    """One wing's SQL for the steps below, inside one open transaction.

    Methods do exactly one thing to the rows they name (dialect, not policy): which steps run,
    in what order and on which rows is decided by the functions of this module.
    """

    # --- what a batch was planned on ------------------------------------------------------------
    def next_seq(self, user_id: str) -> int: ...

    def scene_sources(
        self, user_id: str, scene_ids: Sequence[str]
    ) -> Mapping[str, tuple[str, ...]]: ...

    def scene_links(self, user_id: str, turn_ids: Sequence[str]) -> Mapping[str, str | None]: ...

    # --- reads ----------------------------------------------------------------------------------
    def get_many(self, user_id: str, memory_ids: Sequence[str]) -> dict[str, Record]: ...

    def history(self, user_id: str, memory_id: str) -> builtins.list[HistoryEntry]: ...

    def persona_entries(self, user_id: str) -> builtins.list[PersonaEntry]:
        """The user's persona entries by speaker, then position."""
        ...

    def instructions(self, user_id: str) -> str: ...

    def kind_of(self, user_id: str, memory_id: str) -> Kind | None:
        """The kind of the user's memory ``memory_id``, or None if there is none."""
        ...

    def memory_graph(self, user_id: str) -> MemoryGraph: ...

    def scene_ids(self, user_id: str) -> set[str]: ...

    def scenes_of_turns(self, user_id: str, turn_ids: Sequence[str]) -> set[str]:
        """The scenes that hold ``turn_ids`` now."""
        ...

    def scene_has_turns(self, user_id: str, scene_id: str) -> bool: ...

    def memory_version(self, user_id: str, memory: Scene | Item) -> int | None:
        """The stored version of ``memory`` (None: not stored yet)."""
        ...

    def indexed_text(self, user_id: str, memory: Scene | Item) -> str | None:
        """The text search indexes for the stored ``memory`` (None: not stored)."""
        ...

    def item_content(self, user_id: str, item_id: str) -> str | None: ...

    def forgotten(self, user_id: str) -> set[str]:
        """Ids whose history ends in a deletion tombstone."""
        ...

    # --- writes ---------------------------------------------------------------------------------
    def open_user(self, user_id: str) -> None:
        """Make sure the user exists before its rows are written."""
        ...

    def put_turn(self, user_id: str, turn: Turn) -> None:
        """Upsert a turn; a re-sent turn keeps its scene link and pending mark."""
        ...

    def put_memory(self, user_id: str, memory: Scene | Item, version: int) -> None: ...

    def replace_record(self, user_id: str, record: Record, version: int) -> None:
        """Overwrite a stored memory with ``record`` (links and marks kept)."""
        ...

    def add_history(
        self,
        user_id: str,
        memory_id: str,
        event: HistoryEvent,
        text: str,
        at: datetime,
        detail: str = "",
    ) -> int:
        """Append one history entry and return its version (one more than the last)."""
        ...

    def mark_superseded(self, user_id: str, change: Supersession, version: int) -> None: ...

    def put_trigger(self, user_id: str, trigger: Trigger) -> None: ...

    def drop_targets(self, user_id: str, memory_ids: Sequence[str]) -> int:
        """Remove trigger edges to ``memory_ids``; delete triggers left with none."""
        ...

    def put_vectors(self, user_id: str, rows: Sequence[VectorRow]) -> None:
        """Upsert vectors after checking their space, shape, values and dimension."""
        ...

    def delete_vectors(self, user_id: str, owner_id: str, spaces: Sequence[str]) -> None: ...

    def put_persona_entry(self, user_id: str, entry: PersonaEntry) -> None:
        """Upsert one persona entry."""
        ...

    def put_instructions(self, user_id: str, text: str, at: datetime) -> None:
        """Store the user's extraction instructions; ``""`` deletes them."""
        ...

    def link_turns(self, batch: WriteBatch) -> None:
        """Apply ``scene_of_turn``, ``pending_turns`` and ``done_turns``."""
        ...

    def put_detected_risks(self, user_id: str, flags: Sequence[RiskFlag]) -> None: ...

    def append_risk(self, user_id: str, flag: RiskFlag) -> RiskFlag: ...

    def import_row(self, user_id: str, row: Row) -> None: ...

    # --- erasing --------------------------------------------------------------------------------
    def erase_memory(self, user_id: str, memory_id: str, at: datetime, detail: str) -> int:
        """Remove one memory's rows, edges, text and vectors and leave a history tombstone
        with ``detail``; return the vectors removed."""
        ...

    def erase_persona_entry(self, user_id: str, entry_id: str, at: datetime, detail: str) -> None:
        """Remove one persona entry and its history's text; leave a tombstone with ``detail``."""
        ...

    def erase_model_text(self, user_id: str, entry_id: str, detail: str) -> None:
        """Empty the text of the entry's history versions a model wrote (detail ``model``) and
        set their detail to ``detail``."""
        ...

    def erase_forgotten(self, user_id: str, plan: Forgetting, at: datetime) -> int:
        """:meth:`erase_memory` for every memory of ``plan``; return the vectors removed."""
        ...

    def delete_triggers(self, user_id: str, trigger_ids: Sequence[str]) -> int:
        """Delete triggers with their edges and vectors; return vectors removed."""
        ...

    def set_sources(self, user_id: str, memory_id: str, turn_ids: Sequence[str]) -> None: ...

    def set_scene_ids(self, user_id: str, item_id: str, scene_ids: Sequence[str]) -> None: ...

    def mark_waiting(self, user_id: str, turn_ids: Sequence[str]) -> None:
        """Mark ``turn_ids`` pending and out of any scene."""
        ...

    def drop_context_vectors(self, user_id: str, turn_ids: Sequence[str]) -> None: ...

    def scrub_finished_jobs(self, user_id: str) -> int:
        """Empty the payloads of the user's finished jobs (they may quote erased messages)."""
        ...

    def compact(self, user_id: str) -> None:
        """Purge ``user_id``'s erased terms from the text index if not done per row."""
        ...


# --- writes -----------------------------------------------------------------------------------
def write_batch(steps: Steps, batch: WriteBatch) -> int:
    """Apply ``batch`` (the :meth:`~tmem.store.base.Store.write` contract); return how many
    scenes it left holding no turn and erased.

    Raises:
        WriteConflictError: ``batch.basis`` no longer holds; nothing was written.
    """
    user_id = batch.user_id
    check_basis(
        user_id,
        batch.basis,
        next_seq=lambda: steps.next_seq(user_id),
        scenes=lambda ids: steps.scene_sources(user_id, ids),
        links=lambda ids: steps.scene_links(user_id, ids),
    )
    relinked = [turn_id for turn_id, _ in batch.scene_of_turn]
    holders = steps.scenes_of_turns(user_id, relinked)
    apply_batch(steps, batch)
    steps.put_detected_risks(user_id, batch.risks)
    holders -= {scene_id for _, scene_id in batch.scene_of_turn}
    # Turns keep their context vectors for life: search ranks every turn by them.
    return erase_emptied_scenes(steps, user_id, holders, batch.at, keep_context=set(relinked))


def apply_batch(steps: Steps, batch: WriteBatch) -> None:
    """Write everything in ``batch``, in an order every foreign key accepts."""
    user_id = batch.user_id
    owned: tuple[Owned, ...] = (
        *batch.turns,
        *batch.scenes,
        *batch.items,
        *batch.triggers,
    )
    for record in owned:
        check_owner(user_id, record)
    steps.open_user(user_id)
    for turn in batch.turns:
        steps.put_turn(user_id, turn)
    memories: tuple[Scene | Item, ...] = (*batch.scenes, *batch.items)
    for memory in memories:
        write_memory(steps, user_id, memory, batch.at)
    steps.drop_targets(user_id, batch.delete_triggers_of)
    for trigger in batch.triggers:
        steps.put_trigger(user_id, trigger)
    steps.put_vectors(user_id, batch.vectors)
    for supersession in batch.supersessions:
        supersede(steps, user_id, supersession, batch.at)
    merge_persona(steps, user_id, batch.persona_deltas, batch.at)
    steps.link_turns(batch)


def check_owner(user_id: str, record: Owned) -> None:
    """Refuse a record of another user than the batch's."""
    if record.user_id != user_id:
        raise InputError(
            f"{type(record).__name__} {getattr(record, 'id', '')!r} belongs to another user than"
            " the batch"
        )


def write_memory(steps: Steps, user_id: str, memory: Scene | Item, at: datetime) -> None:
    """Upsert a scene or item; history records its creation and every change of its text."""
    version = steps.memory_version(user_id, memory)
    if version is None:
        version = steps.add_history(user_id, memory.id, "created", memory.text, at)
    elif steps.indexed_text(user_id, memory) != index_text(memory):
        version = steps.add_history(user_id, memory.id, "updated", memory.text, at)
    steps.put_memory(user_id, memory, version)


def supersede(steps: Steps, user_id: str, change: Supersession, at: datetime) -> None:
    """Mark ``change.old_id`` superseded by ``change.new_id``, with a history entry."""
    content = steps.item_content(user_id, change.old_id)
    if content is None:
        raise NotFoundError(f"cannot supersede item {change.old_id!r}: no such item")
    detail = f"{change.new_id}: {change.reason}" if change.reason else change.new_id
    version = steps.add_history(user_id, change.old_id, "superseded", content, at, detail)
    steps.mark_superseded(user_id, change, version)


def update_memory(
    steps: Steps,
    user_id: str,
    memory_id: str,
    content: str,
    vectors: Sequence[VectorRow],
    at: datetime,
) -> Record:
    """Replace a memory's text (a scene's narrative) and the vectors of the spaces given.

    History gets an ``updated`` entry, preceded by a ``created`` one holding the old text
    when the memory had none (turns get no history row when stored).

    Raises:
        NotFoundError: the user has no such memory.
    """
    found = steps.get_many(user_id, [memory_id]).get(memory_id)
    if found is None:
        raise NotFoundError(f"no memory {memory_id!r} for this user")
    if not steps.history(user_id, memory_id):
        steps.add_history(user_id, memory_id, "created", current_text(found), found.timestamp)
    version = steps.add_history(user_id, memory_id, "updated", content, at)
    updated = with_text(found, content)
    steps.replace_record(user_id, updated, version)
    steps.delete_vectors(user_id, memory_id, sorted({row.space for row in vectors}))
    steps.put_vectors(user_id, vectors)
    return updated


def current_text(record: Record) -> str:
    """The field :func:`update_memory` replaces, as it is now."""
    return record.narrative if isinstance(record, Scene) else record.content


def with_text(record: Record, content: str) -> Record:
    """``record`` with the field :func:`update_memory` replaces set to ``content``."""
    if isinstance(record, Scene):
        return replace(record, narrative=content)
    return replace(record, content=content)


def review_risk(steps: Steps, user_id: str, flag: RiskFlag) -> RiskFlag:
    """Append an operator's review to the memory's flag history.

    Raises:
        NotFoundError: the user has no such memory.
    """
    if steps.kind_of(user_id, flag.memory_id) is None:
        raise NotFoundError(f"no memory {flag.memory_id!r} for this user")
    return steps.append_risk(user_id, flag)


def import_rows(steps: Steps, user_id: str, rows: Sequence[Row], at: datetime) -> list[Row]:
    """Write exported ``rows`` into ``user_id``, leaving out what the user forgot since.

    An older export's whole-profile ``persona`` records become persona entries first (``at``
    stands in for a profile's missing time). Returns the rows written.
    """
    steps.open_user(user_id)
    current: list[Row] = []
    for row in rows:
        if row["type"] in LEGACY_TYPES:
            current.extend(legacy_persona_entries(row, at))
        elif row["type"] == "instructions":
            text = check_instructions(row.get("text"), "an imported instructions record")
            if text:  # none stored is how a user without instructions exports
                current.append({**row, "text": text})
        else:
            current.append(row)
    kept = without_forgotten(current, steps.forgotten(user_id))
    for row in kept:
        steps.import_row(user_id, row)
    return kept


def list_memories(
    records: Callable[[Kind, str], Sequence[Record]], kind: Kind | None, include_superseded: bool
) -> list[Record]:
    """Memories in time order; turns of equal time keep their sequence order.

    ``records(kind, where)`` reads the user's rows of one kind, filtered by the SQL ``where``
    (empty: all), in sequence order.

    Raises:
        InputError: an unknown kind.
    """
    if kind is not None and kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; expected one of {KINDS}")
    result: list[Record] = []
    for each in (kind,) if kind else KINDS:
        where = "" if each != "item" or include_superseded else "status = 'active'"
        result.extend(records(each, where))
    return result if kind == "turn" else in_time_order(result)


# --- forgetting -------------------------------------------------------------------------------
def derivations(steps: Steps, user_id: str) -> Derivations:
    """What the user's scenes, items and triggers rest on (:mod:`tmem.store.policy`)."""
    graph = steps.memory_graph(user_id)
    return Derivations(
        scenes={s: graph.sources.get(s, ()) for s in steps.scene_ids(user_id)},
        items={i: graph.sources.get(i, ()) for i in graph.scenes_of},
        item_scenes=graph.scenes_of,
        triggers=graph.targets,
    )


def plan_forget_of(steps: Steps, user_id: str, memory_id: str) -> Forgetting:
    """The policy's plan for forgetting ``memory_id``.

    Raises:
        NotFoundError: the user has no such memory.
    """
    kind = steps.kind_of(user_id, memory_id)
    if kind is None:
        raise NotFoundError(f"no memory {memory_id!r} for this user")
    return plan_forget(derivations(steps, user_id), memory_id, kind)


def forget(
    steps: Steps,
    user_id: str,
    memory_id: str,
    at: datetime,
    context: Sequence[VectorRow] = (),
    planned: Forgetting | None = None,
) -> int:
    """Forget ``memory_id`` by the policy; return memories, triggers and vectors removed.

    ``context`` holds fresh ``context`` vectors for the turns that go back to waiting; rows
    for any other turn are ignored. The plan is recomputed here, inside the transaction,
    unless the caller passes ``planned``: a plan it knows still holds (nothing of the user
    changed since it was made).

    Raises:
        NotFoundError: the user has no such memory.
    """
    plan = planned if planned is not None else plan_forget_of(steps, user_id, memory_id)
    removed = len(plan.memories) + len(plan.triggers)
    removed += steps.erase_forgotten(user_id, plan, at)
    removed += steps.delete_triggers(user_id, plan.triggers)
    send_back_to_waiting(steps, user_id, plan.waiting, context)
    forget_persona(steps, user_id, plan, at)
    steps.scrub_finished_jobs(user_id)
    steps.compact(user_id)
    return removed


def send_back_to_waiting(
    steps: Steps, user_id: str, turn_ids: Sequence[str], context: Sequence[VectorRow]
) -> None:
    """Mark ``turn_ids`` pending, out of any scene, with only the fresh ``context`` vectors."""
    if not turn_ids:
        return
    steps.mark_waiting(user_id, turn_ids)
    # Old context vectors embedded the erased neighbour's words too.
    steps.drop_context_vectors(user_id, turn_ids)
    waiting = set(turn_ids)
    fresh = [row for row in context if row.space == CONTEXT.name and row.owner_id in waiting]
    if fresh:
        steps.put_vectors(user_id, fresh)


def forget_persona(steps: Steps, user_id: str, plan: Forgetting, at: datetime) -> None:
    """What forgetting ``plan`` does to persona entries (:func:`tmem.persona.forget_entries`)."""
    change = forget_entries(steps.persona_entries(user_id), plan.turns, plan.waiting, at)
    apply_persona(steps, user_id, change, at, f"{PERSONA}, with {plan.requested}")
    for entry in change.unsourced:
        steps.erase_model_text(user_id, entry.id, f"{MODEL}; text erased with {plan.requested}")


def merge_persona(steps: Steps, user_id: str, deltas: Sequence[PersonaDelta], at: datetime) -> None:
    """Merge extraction ``deltas`` into the entries as stored now, pins and hand edits kept."""
    if deltas:
        change = merge_entries(steps.persona_entries(user_id), deltas, user_id=user_id, at=at)
        apply_persona(steps, user_id, change, at, PERSONA_REPLACED)


def apply_persona(
    steps: Steps, user_id: str, change: PersonaChange, at: datetime, detail: str
) -> None:
    """Erase, create (history ``created``, by the model) and rewrite entries as ``change``
    says; erased entries' tombstones get ``detail``."""
    for entry in change.erased:
        steps.erase_persona_entry(user_id, entry.id, at, detail)
    for entry in change.written:
        if entry.id in change.created:
            steps.add_history(user_id, entry.id, "created", entry.value, at, MODEL)
        steps.put_persona_entry(user_id, entry)


def edit_persona(steps: Steps, user_id: str, edit: PersonaEdit, at: datetime) -> PersonaEntry:
    """Write a persona entry by hand; history records what changed, and who wrote each text.

    An entry stored without history (a migrated profile's) first gets a ``created`` entry
    holding its text as it was, as :func:`update_memory` does for turns.

    Raises:
        NotFoundError: ``edit.id`` names no entry of the user.
        InputError: the edit is malformed or collides with another entry.
    """
    outcome = apply_edit(steps.persona_entries(user_id), edit, user_id=user_id, at=at)
    before, after = outcome.before, outcome.after
    if before == after:
        return after
    if before is None:
        steps.add_history(user_id, after.id, "created", after.value, at, HAND)
    elif not steps.history(user_id, after.id):
        steps.add_history(
            user_id, after.id, "created", before.value, before.created_at, before.origin
        )
    if before is not None and (before.value, before.origin) != (after.value, after.origin):
        steps.add_history(user_id, after.id, "updated", after.value, at, HAND)
    if after.pinned != (before.pinned if before is not None else False):
        steps.add_history(user_id, after.id, "pinned" if after.pinned else "unpinned", "", at, HAND)
    steps.open_user(user_id)
    steps.put_persona_entry(user_id, after)
    return after


def delete_persona_entry(steps: Steps, user_id: str, entry_id: str, at: datetime) -> int:
    """Erase one persona entry by hand (a tombstone stays); return 1.

    Raises:
        NotFoundError: the user has no such entry.
    """
    if not any(entry.id == entry_id for entry in steps.persona_entries(user_id)):
        raise NotFoundError(f"no persona entry {entry_id!r} for this user")
    steps.erase_persona_entry(user_id, entry_id, at, PERSONA)
    return 1


def set_instructions(steps: Steps, user_id: str, text: str, at: datetime) -> None:
    """Store the user's extraction instructions (``""`` removes them)."""
    steps.open_user(user_id)
    steps.put_instructions(user_id, text, at)


def erase_emptied_scenes(
    steps: Steps,
    user_id: str,
    candidates: set[str],
    at: datetime,
    keep_context: Collection[str] = (),
) -> int:
    """Erase the ``candidates`` no turn links to any more; return how many went.

    A scene whose every turn a later derivation moved into new scenes (a plain scene, a scene
    whose extraction failed) would otherwise stay searchable next to its replacements. Items
    extracted only from it and triggers left without a target go with it (the
    :mod:`tmem.store.cascade` rules), and so do its turns' ``context`` vectors, which mark
    turns waiting in a plain scene, unless the same write gave a turn a new one
    (``keep_context``).
    """
    emptied = [
        scene_id
        for scene_id in sorted(candidates)
        if not steps.scene_has_turns(user_id, scene_id)
        and steps.kind_of(user_id, scene_id) == "scene"
    ]
    if not emptied:
        return 0
    gone: set[str] = set()
    for scene_id in emptied:
        graph = steps.memory_graph(user_id)
        moved = [t for t in graph.sources.get(scene_id, ()) if t not in keep_context]
        steps.drop_context_vectors(user_id, moved)
        if scene_id not in gone:
            plan = plan_deletion(graph, scene_id)
            apply_deletion(steps, user_id, plan, at, detail=REPLACED)
            gone.update(plan.memories)
    steps.compact(user_id)
    return len(emptied)


def apply_deletion(
    steps: Steps, user_id: str, plan: DeletionPlan, at: datetime, detail: str = ""
) -> int:
    """Carry out a :class:`~tmem.store.cascade.DeletionPlan`; return rows removed."""
    removed = len(plan.memories) + len(plan.triggers)
    for memory_id in plan.memories:
        removed += steps.erase_memory(user_id, memory_id, at, detail)
    for owner, turns in plan.sources.items():
        steps.set_sources(user_id, owner, turns)
    for item_id, scenes in plan.scenes_of.items():
        steps.set_scene_ids(user_id, item_id, scenes)
    removed += steps.delete_triggers(user_id, plan.triggers)
    return removed
